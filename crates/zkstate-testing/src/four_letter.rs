//! ZooKeeper's four-letter-word admin commands (`srvr`, `cons`, `mntr`, …).

use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::error::{Result, TestingError};

/// The whole exchange (connect, write, read to EOF) must finish within this.
const DEADLINE: Duration = Duration::from_secs(2);

/// Sends the four-letter word `word` (e.g. `"srvr"`, `"cons"`, `"mntr"`) to the server at
/// `addr` (`"host:port"`) and returns its whole answer.
///
/// Connects, writes the word, reads until the server closes the connection; all of it within
/// 2 s, else [`TestingError::Io`] with [`std::io::ErrorKind::TimedOut`]. Servers started by
/// this crate allow every word (`4lw.commands.whitelist=*`). Use `srvr` (its `Mode:` line) to
/// know whether a server serves: `ruok` answers `imok` even before the server serves.
pub async fn four_letter_word(addr: &str, word: &str) -> Result<String> {
    let what = format!("four-letter word {word:?} to {addr}");
    let exchange = async {
        let mut stream = TcpStream::connect(addr).await?;
        stream.write_all(word.as_bytes()).await?;
        let mut answer = Vec::new();
        stream.read_to_end(&mut answer).await?;
        Ok::<_, std::io::Error>(answer)
    };
    match tokio::time::timeout(DEADLINE, exchange).await {
        Ok(Ok(answer)) => Ok(String::from_utf8_lossy(&answer).into_owned()),
        Ok(Err(err)) => Err(TestingError::io(what, err)),
        Err(_) => Err(TestingError::io(
            what,
            std::io::Error::new(
                std::io::ErrorKind::TimedOut,
                format!("no complete answer within {DEADLINE:?}"),
            ),
        )),
    }
}
