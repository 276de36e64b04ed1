//! Spawns every JVM from one dedicated thread so that no JVM outlives the test process.
//!
//! Each child is started with `PR_SET_PDEATHSIG = SIGKILL`: the kernel sends it `SIGKILL` when
//! its parent dies. "Parent" there means the *thread* that forked it, not the process: a JVM
//! forked from a `#[tokio::test]` thread (or a tokio worker) would be killed as soon as that
//! thread exits, which happens while the server is still in use (a server shared through a
//! `static`, a runtime shut down between tests). So all forks happen on one thread that is
//! started once, never returns (it blocks on a channel whose sender lives in a `static` and is
//! never dropped) and therefore only dies with the whole process — however the process ends:
//! normal exit, panic, `abort()`, or `SIGKILL`.

use std::io;
use std::os::unix::process::CommandExt;
use std::process::{Child, Command};
use std::sync::mpsc;
use std::sync::OnceLock;

use tokio::sync::oneshot;

/// What the spawner thread does with the result of a fork: wraps the child in its owner and
/// sends it to the caller, on the spawner thread itself (see [`serve`]).
type Deliver = Box<dyn FnOnce(io::Result<Child>) + Send>;

struct SpawnRequest {
    command: Command,
    deliver: Deliver,
}

/// The sender side of the spawner thread's channel, or why the thread could not be started.
static SPAWNER: OnceLock<Result<mpsc::Sender<SpawnRequest>, String>> = OnceLock::new();

fn spawner() -> io::Result<&'static mpsc::Sender<SpawnRequest>> {
    let spawner = SPAWNER.get_or_init(|| {
        let (sender, receiver) = mpsc::channel::<SpawnRequest>();
        std::thread::Builder::new()
            .name("zkstate-testing-spawner".to_string())
            .spawn(move || serve(receiver))
            .map(|_detached| sender)
            .map_err(|err| format!("cannot start the JVM spawner thread: {err}"))
    });
    spawner
        .as_ref()
        .map_err(|msg| io::Error::other(msg.clone()))
}

/// The spawner thread's body. The channel never closes (its sender is in a `static`), so this
/// never returns and the thread lives as long as the process.
fn serve(receiver: mpsc::Receiver<SpawnRequest>) {
    for SpawnRequest {
        mut command,
        deliver,
    } in receiver
    {
        // `deliver` wraps the child in its owner at once (see [`spawn`]): however it is dropped
        // from now on, the JVM is killed and reaped.
        deliver(command.spawn());
    }
}

/// Spawns `command` from the dedicated spawner thread, with `PR_SET_PDEATHSIG = SIGKILL`, and
/// returns the child wrapped by `own`. `own` runs on the spawner thread right after the fork, so
/// that wherever the owner is dropped from then on (on that thread if the caller gave up, in the
/// reply channel, or later by the caller), it can kill and reap the child.
pub(crate) async fn spawn<T: Send + 'static>(
    mut command: Command,
    own: fn(Child) -> T,
) -> io::Result<T> {
    // The pid of this process, read before forking: the child compares it with its parent pid
    // to detect that the process died between `fork` and `prctl`.
    // SAFETY: getpid has no preconditions and cannot fail.
    let parent = unsafe { libc::getpid() };
    // SAFETY: the closure runs in the forked child before `exec`, where only async-signal-safe
    // functions may be called; `prctl`, `getppid` and `_exit` are plain system calls that
    // allocate nothing and take no locks. `PR_SET_PDEATHSIG` makes the kernel send SIGKILL to
    // the child when the thread that forked it (the spawner thread, which only ends with the
    // process) dies. If the process already died before `prctl` ran, the child has been
    // reparented (its parent pid changed), the signal would never come, so it exits at once.
    unsafe {
        command.pre_exec(move || {
            if libc::prctl(
                libc::PR_SET_PDEATHSIG,
                libc::SIGKILL as libc::c_ulong,
                0,
                0,
                0,
            ) != 0
            {
                return Err(io::Error::last_os_error());
            }
            if libc::getppid() != parent {
                libc::_exit(127);
            }
            Ok(())
        });
    }
    let (reply, response) = oneshot::channel();
    let deliver: Deliver = Box::new(move |spawned: io::Result<Child>| {
        drop(reply.send(spawned.map(own)));
    });
    spawner()?
        .send(SpawnRequest { command, deliver })
        .map_err(|_| io::Error::other("the JVM spawner thread is gone"))?;
    response
        .await
        .map_err(|_| io::Error::other("the JVM spawner thread dropped the request"))?
}
