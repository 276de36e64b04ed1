//! Tests of URL parsing, paths and server lists.
use super::*;
use proptest::prelude::*;

fn url(s: &str) -> ZkUrl {
    match ZkUrl::parse(s) {
        Ok(u) => u,
        Err(e) => panic!("{s}: {e}"),
    }
}

fn err(s: &str) -> UrlError {
    match ZkUrl::parse(s) {
        Ok(u) => panic!("{s} parsed as {u:?}"),
        Err(e) => e,
    }
}

fn abs(p: &str) -> ZkPath {
    ZkPath::Absolute(p.to_string())
}

#[test]
fn full_url() {
    let u = url("zookeeper://h1:2181,h2:2181,h3:2181/etc/configs/file1");
    assert_eq!(u.servers().as_deref(), Some("h1:2181,h2:2181,h3:2181"));
    assert_eq!(u.path(), &abs("/etc/configs/file1"));
}

#[test]
fn url_default_port_and_paths() {
    let u = url("zookeeper://h1");
    assert_eq!(u.servers().as_deref(), Some("h1:2181"));
    assert_eq!(u.path(), &ZkPath::Unspecified);
    assert_eq!(url("zookeeper://h1/").path(), &abs("/"));
    assert_eq!(
        url("zookeeper://h1,h2:2182").servers().as_deref(),
        Some("h1:2181,h2:2182")
    );
}

#[test]
fn scheme_is_case_insensitive() {
    assert_eq!(url("ZooKeeper://h1/x"), url("zookeeper://h1/x"));
    assert_eq!(url("ZOOKEEPER:./x"), url("zookeeper:./x"));
}

#[test]
fn url_without_servers() {
    let u = url("zookeeper:///etc/configs/file1");
    assert_eq!(u.servers(), None);
    assert_eq!(u.path(), &abs("/etc/configs/file1"));
    assert_eq!(url("zookeeper:/etc/configs/file1"), u);
    let empty = url("zookeeper://");
    assert_eq!(empty.servers(), None);
    assert_eq!(empty.path(), &ZkPath::Unspecified);
    assert_eq!(url("zookeeper:///").path(), &abs("/"));
}

#[test]
fn relative_url() {
    let u = url("zookeeper:./etc/configs/file1");
    assert_eq!(u.servers(), None);
    assert_eq!(u.path(), &ZkPath::Relative("etc/configs/file1".into()));
    assert_eq!(u.to_string(), "zookeeper:./etc/configs/file1");
}

#[test]
fn zookeeper_colon_port_is_a_host() {
    let u = url("zookeeper:2181");
    assert_eq!(u.servers().as_deref(), Some("zookeeper:2181"));
    let u = url("zookeeper:2182,zk2/chroot");
    assert_eq!(u.servers().as_deref(), Some("zookeeper:2182,zk2:2181"));
    assert_eq!(u.path(), &abs("/chroot"));
    // Not a relative URL: documented as ambiguous.
    assert_eq!(
        err("zookeeper:etc/x"),
        UrlError::BadPath {
            path: "etc/x".into(),
            problem: PathProblem::NeedsDotSlash
        }
    );
    assert!(matches!(
        err("zookeeper:.x"),
        UrlError::BadPath {
            problem: PathProblem::NeedsDotSlash,
            ..
        }
    ));
    assert!(matches!(err("zookeeper:"), UrlError::BadPort { .. }));
}

#[test]
fn connect_strings() {
    let u = url("h1:2181,h2:2181/chroot");
    assert_eq!(u.servers().as_deref(), Some("h1:2181,h2:2181"));
    assert_eq!(u.path(), &abs("/chroot"));
    let u = url("h1,h2");
    assert_eq!(u.servers().as_deref(), Some("h1:2181,h2:2181"));
    assert_eq!(u.path(), &ZkPath::Unspecified);
    assert_eq!(
        url("127.0.0.1:2181").servers().as_deref(),
        Some("127.0.0.1:2181")
    );
    assert_eq!(
        url("h1, h2 ,h3").servers().as_deref(),
        Some("h1:2181,h2:2181,h3:2181")
    );
    assert_eq!(
        url("zk_1.example-domain.com").servers().as_deref(),
        Some("zk_1.example-domain.com:2181")
    );
    assert_eq!(url("h1:02181").servers().as_deref(), Some("h1:2181"));
}

#[test]
fn ipv6() {
    assert_eq!(url("[::1]:2181").servers().as_deref(), Some("[::1]:2181"));
    assert_eq!(url("[::1]").servers().as_deref(), Some("[::1]:2181"));
    assert_eq!(
        url("[0:0:0:0:0:0:0:1]:2182").servers().as_deref(),
        Some("[::1]:2182")
    );
    let u = url("zookeeper://[::1],[fe80::2]:2888,h3/x");
    assert_eq!(
        u.servers().as_deref(),
        Some("[::1]:2181,[fe80::2]:2888,h3:2181")
    );
    assert_eq!(u.path(), &abs("/x"));
    let addrs = u.server_addrs().unwrap_or_default();
    assert_eq!(addrs[1].host(), "fe80::2");
    assert_eq!(addrs[1].port(), 2888);
    assert_eq!(url("[::1]/chroot").path(), &abs("/chroot"));
}

#[test]
fn bad_ipv6() {
    for s in [
        "[::1",
        "[::1]x",
        "[::1]2181",
        "[nope]",
        "[]:2181",
        "::1",
        "fe80::1:2181",
        "zookeeper://[::1",
    ] {
        assert!(
            matches!(err(s), UrlError::BadIpv6 { .. }),
            "{s}: {:?}",
            err(s)
        );
    }
    assert!(matches!(err("h1]"), UrlError::BadIpv6 { .. }));
    assert_eq!(
        err("[::1]:0"),
        UrlError::BadPort {
            host: "[::1]".into(),
            port: "0".into()
        }
    );
}

#[test]
fn empty_input() {
    assert_eq!(err(""), UrlError::Empty);
}

#[test]
fn unknown_scheme() {
    assert_eq!(
        err("http://h1/x"),
        UrlError::UnknownScheme {
            scheme: "http".into()
        }
    );
    assert_eq!(
        err("zookeepers:///x"),
        UrlError::UnknownScheme {
            scheme: "zookeepers".into()
        }
    );
    // Without `://` this is a host and a port.
    assert_eq!(
        err("mailto:bob"),
        UrlError::BadPort {
            host: "mailto".into(),
            port: "bob".into()
        }
    );
    assert!(err("http://h1").to_string().contains("`http`"));
    assert_eq!(
        err("zk+tls://h1"),
        UrlError::UnknownScheme {
            scheme: "zk+tls".into()
        }
    );
    // `://` after a path is a bad path (ZooKeeper paths have no `//`), not a scheme.
    for s in ["h1/a://b", "zookeeper:/a://b", "zookeeper://h1/a://b"] {
        assert!(
            matches!(
                err(s),
                UrlError::BadPath {
                    problem: PathProblem::EmptyComponent,
                    ..
                }
            ),
            "{s}"
        );
    }
    assert_eq!(
        err("h1:2181://x"),
        UrlError::BadPort {
            host: "h1".into(),
            port: "2181:".into()
        }
    );
}

#[test]
fn empty_host() {
    assert_eq!(
        err("zookeeper://:2181"),
        UrlError::EmptyHost {
            servers: ":2181".into(),
            position: 1
        }
    );
    assert_eq!(
        err("h1,,h2"),
        UrlError::EmptyHost {
            servers: "h1,,h2".into(),
            position: 2
        }
    );
    assert_eq!(
        err("h1,"),
        UrlError::EmptyHost {
            servers: "h1,".into(),
            position: 2
        }
    );
    assert_eq!(
        err("zookeeper://,h1/x"),
        UrlError::EmptyHost {
            servers: ",h1".into(),
            position: 1
        }
    );
    assert_eq!(
        err("/chroot"),
        UrlError::EmptyHost {
            servers: String::new(),
            position: 1
        }
    );
}

#[test]
fn bad_port() {
    for (input, host, port) in [
        ("h1:abc", "h1", "abc"),
        ("h1:0", "h1", "0"),
        ("h1:65536", "h1", "65536"),
        ("h1:99999999999", "h1", "99999999999"),
        ("h1:", "h1", ""),
        ("h1:+80", "h1", "+80"),
        ("zookeeper://h2:x1/a", "h2", "x1"),
        ("h1:/x", "h1", ""),
    ] {
        assert_eq!(
            err(input),
            UrlError::BadPort {
                host: host.into(),
                port: port.into()
            },
            "{input}"
        );
    }
    assert_eq!(url("h1:65535").servers().as_deref(), Some("h1:65535"));
    let msg = err("h1:0").to_string();
    assert!(msg.contains("`0`") && msg.contains("`h1`"), "{msg}");
}

#[test]
fn bad_host() {
    for (input, host) in [
        ("zookeeper://user@h1/x", "user@h1"),
        ("h 1", "h 1"),
        ("hé", "hé"),
        ("h1;h2", "h1;h2"),
        ("zookeeper://h\u{0}1", "h\\01"),
    ] {
        assert_eq!(
            err(input),
            UrlError::BadHost { host: host.into() },
            "{input}"
        );
    }
}

#[test]
fn bad_paths() {
    let problem = |s: &str| match err(s) {
        UrlError::BadPath { problem, .. } => problem,
        other => panic!("{s}: {other:?}"),
    };
    assert_eq!(problem("zookeeper://h1/a//b"), PathProblem::EmptyComponent);
    assert_eq!(problem("zookeeper://h1//"), PathProblem::TrailingSlash);
    assert_eq!(problem("zookeeper:///a/./b"), PathProblem::DotComponent);
    assert_eq!(problem("zookeeper:///a/.."), PathProblem::DotComponent);
    assert_eq!(problem("h1/a/"), PathProblem::TrailingSlash);
    assert_eq!(
        problem("zookeeper://h1/a\u{0}b"),
        PathProblem::ForbiddenCharacter('\0')
    );
    assert_eq!(
        problem("zookeeper://h1/a\nb"),
        PathProblem::ForbiddenCharacter('\n')
    );
    assert_eq!(
        problem("zookeeper://h1/a\u{85}"),
        PathProblem::ForbiddenCharacter('\u{85}')
    );
    assert_eq!(problem("zookeeper:./a//b"), PathProblem::EmptyComponent);
    assert_eq!(problem("zookeeper:./../b"), PathProblem::DotComponent);
    assert_eq!(problem("zookeeper:./a/"), PathProblem::TrailingSlash);
    assert_eq!(problem("zookeeper:./"), PathProblem::Empty);
    assert_eq!(problem("zookeeper:."), PathProblem::Empty);
    assert_eq!(problem("zookeeper:.//x"), PathProblem::NotRelative);
    // The message escapes control characters.
    let msg = err("zookeeper://h1/a\nb").to_string();
    assert!(msg.contains("a\\nb") && !msg.contains('\n'), "{msg}");
}

#[test]
fn query_and_fragment_rejected() {
    for s in [
        "zookeeper://h1/x?a=1",
        "zookeeper://h1/x#frag",
        "h1:2181?x",
        "zookeeper:./a#b",
    ] {
        assert_eq!(err(s), UrlError::QueryOrFragment { input: s.into() }, "{s}");
    }
}

#[test]
fn validate_path_rules() {
    assert_eq!(validate_path("/"), Ok(()));
    assert_eq!(validate_path("/a/b-c_d.e/zookeeper"), Ok(()));
    assert_eq!(validate_path("/ünïcödé/😀"), Ok(()));
    assert_eq!(validate_path("/..."), Ok(()));
    let problem = |p: &str| match validate_path(p) {
        Err(UrlError::BadPath { problem, .. }) => problem,
        other => panic!("{p}: {other:?}"),
    };
    assert_eq!(problem(""), PathProblem::Empty);
    assert_eq!(problem("a/b"), PathProblem::NotAbsolute);
    assert_eq!(problem("//"), PathProblem::TrailingSlash);
    assert_eq!(problem("//a"), PathProblem::EmptyComponent);
    assert_eq!(problem("/a/"), PathProblem::TrailingSlash);
    assert_eq!(problem("/."), PathProblem::DotComponent);
    assert_eq!(problem("/a/../b"), PathProblem::DotComponent);
    assert_eq!(
        problem("/a\u{1f}"),
        PathProblem::ForbiddenCharacter('\u{1f}')
    );
    assert_eq!(
        problem("/a\u{7f}"),
        PathProblem::ForbiddenCharacter('\u{7f}')
    );
    assert_eq!(
        problem("/a\u{9f}"),
        PathProblem::ForbiddenCharacter('\u{9f}')
    );
    assert_eq!(
        problem("/\u{e000}"),
        PathProblem::ForbiddenCharacter('\u{e000}')
    );
    assert_eq!(
        problem("/\u{f8ff}"),
        PathProblem::ForbiddenCharacter('\u{f8ff}')
    );
    assert_eq!(
        problem("/\u{fff0}"),
        PathProblem::ForbiddenCharacter('\u{fff0}')
    );
    assert_eq!(
        problem("/\u{ffff}"),
        PathProblem::ForbiddenCharacter('\u{ffff}')
    );
    assert_eq!(validate_path("/\u{a0}\u{f900}\u{ffef}"), Ok(()));
}

#[test]
fn join_path_rules() {
    assert_eq!(join_path("/", "a/b").as_deref(), Ok("/a/b"));
    assert_eq!(join_path("/x", "a").as_deref(), Ok("/x/a"));
    assert_eq!(join_path("/x/y", "a/b").as_deref(), Ok("/x/y/a/b"));
    assert_eq!(join_path("/x", "").as_deref(), Ok("/x"));
    assert!(matches!(
        join_path("/x", "/a"),
        Err(UrlError::BadPath {
            problem: PathProblem::NotRelative,
            ..
        })
    ));
    assert!(matches!(
        join_path("x", "a"),
        Err(UrlError::BadPath {
            problem: PathProblem::NotAbsolute,
            ..
        })
    ));
    assert!(matches!(
        join_path("/x/", "a"),
        Err(UrlError::BadPath {
            problem: PathProblem::TrailingSlash,
            ..
        })
    ));
    assert!(matches!(
        join_path("/x", "a/"),
        Err(UrlError::BadPath {
            problem: PathProblem::TrailingSlash,
            ..
        })
    ));
    assert!(matches!(
        join_path("/x", ".."),
        Err(UrlError::BadPath {
            problem: PathProblem::DotComponent,
            ..
        })
    ));
}

#[test]
fn display_is_canonical() {
    for (input, canonical) in [
        ("h1,h2:2182/chroot", "zookeeper://h1:2181,h2:2182/chroot"),
        ("zookeeper://h1", "zookeeper://h1:2181"),
        ("zookeeper://h1/", "zookeeper://h1:2181/"),
        ("zookeeper:/a", "zookeeper:///a"),
        ("zookeeper:///a", "zookeeper:///a"),
        ("zookeeper://", "zookeeper://"),
        ("[::1]", "zookeeper://[::1]:2181"),
        ("ZOOKEEPER:./a/b", "zookeeper:./a/b"),
    ] {
        let u = url(input);
        assert_eq!(u.to_string(), canonical, "{input}");
        assert_eq!(url(canonical), u, "{input}");
        assert_eq!(canonical.parse::<ZkUrl>(), Ok(u));
    }
}

#[test]
fn tls_scheme() {
    let u = url("zookeeper+tls://h1:2281,h2:2282/apps/x");
    assert!(u.tls());
    assert_eq!(u.servers().as_deref(), Some("h1:2281,h2:2282"));
    assert_eq!(u.path(), &abs("/apps/x"));
    assert!(!url("zookeeper://h1:2281/apps/x").tls());
    assert!(!url("h1:2281/apps/x").tls());
    assert_ne!(url("zookeeper+tls://h1/x"), url("zookeeper://h1/x"));
    assert_eq!(url("ZooKeeper+TLS://h1/x"), url("zookeeper+tls://h1/x"));
    let u = url("zookeeper+tls://");
    assert!(u.tls());
    assert_eq!((u.servers(), u.path()), (None, &ZkPath::Unspecified));
    let u = url("zookeeper+tls:///abs");
    assert_eq!((u.tls(), u.path()), (true, &abs("/abs")));
    assert_eq!(url("zookeeper+tls:/abs"), u);
    let u = url("zookeeper+tls:./rel/x");
    assert_eq!(
        (u.tls(), u.path()),
        (true, &ZkPath::Relative("rel/x".into()))
    );
    // Default port as for plain URLs: the secure port must be written.
    assert_eq!(
        url("zookeeper+tls://h1").servers().as_deref(),
        Some("h1:2181")
    );
}

#[test]
fn bad_tls_urls() {
    let problem = |s: &str| match err(s) {
        UrlError::BadPath { problem, .. } => problem,
        other => panic!("{s}: {other:?}"),
    };
    assert_eq!(problem("zookeeper+tls:rel"), PathProblem::NeedsDotSlash);
    assert_eq!(problem("zookeeper+tls:2281"), PathProblem::NeedsDotSlash);
    assert_eq!(problem("zookeeper+tls:"), PathProblem::Empty);
    assert_eq!(problem("zookeeper+tls:."), PathProblem::Empty);
    assert_eq!(problem("zookeeper+tls:./a/"), PathProblem::TrailingSlash);
    assert_eq!(
        problem("zookeeper+tls://h1/a//b"),
        PathProblem::EmptyComponent
    );
    assert!(matches!(
        err("zookeeper+tls://h1:0"),
        UrlError::BadPort { .. }
    ));
    assert_eq!(
        err("zookeeper+ssl://h1"),
        UrlError::UnknownScheme {
            scheme: "zookeeper+ssl".into()
        }
    );
    let msg = err("zk+tls://h1").to_string();
    assert!(msg.contains("zookeeper+tls://"), "{msg}");
}

#[test]
fn tls_display_round_trips() {
    for (input, canonical) in [
        (
            "zookeeper+tls://h1,h2:2282/chroot",
            "zookeeper+tls://h1:2181,h2:2282/chroot",
        ),
        ("zookeeper+tls://h1:2281", "zookeeper+tls://h1:2281"),
        ("ZOOKEEPER+TLS://h1/", "zookeeper+tls://h1:2181/"),
        ("zookeeper+tls:/a", "zookeeper+tls:///a"),
        ("zookeeper+tls://", "zookeeper+tls://"),
        (
            "zookeeper+tls://[::1]:2281/x",
            "zookeeper+tls://[::1]:2281/x",
        ),
        ("zookeeper+tls:./a/b", "zookeeper+tls:./a/b"),
    ] {
        let u = url(input);
        assert!(u.tls(), "{input}");
        assert_eq!(u.to_string(), canonical, "{input}");
        assert_eq!(url(canonical), u, "{input}");
    }
}

fn problem(result: Result<impl std::fmt::Debug, UrlError>) -> PathProblem {
    match result {
        Err(UrlError::BadPath { problem, .. }) => problem,
        other => panic!("expected a bad path, got {other:?}"),
    }
}

#[test]
fn the_path_after_zookeeper_colon_row_by_row() {
    let rel = |p: &str| Ok(Some(ZkPath::Relative(p.to_string())));
    assert_eq!(scheme_path("./a/b"), rel("a/b"));
    assert_eq!(problem(scheme_path(".")), PathProblem::Empty);
    assert_eq!(scheme_path("/a"), Ok(Some(abs("/a"))));
    assert_eq!(problem(scheme_path("/a/")), PathProblem::TrailingSlash);
    assert_eq!(problem(scheme_path("etc/x")), PathProblem::NeedsDotSlash);
    assert_eq!(problem(scheme_path(".x")), PathProblem::NeedsDotSlash);
    assert_eq!(scheme_path("2181"), Ok(None));
    assert_eq!(scheme_path(""), Ok(None));
}

#[test]
fn the_path_after_zookeeper_tls_colon_row_by_row() {
    assert_eq!(
        tls_scheme_path("./a"),
        Ok(ZkPath::Relative("a".to_string()))
    );
    assert_eq!(tls_scheme_path("/a"), Ok(abs("/a")));
    assert_eq!(problem(tls_scheme_path("")), PathProblem::Empty);
    assert_eq!(problem(tls_scheme_path(".")), PathProblem::Empty);
    assert_eq!(problem(tls_scheme_path("2181")), PathProblem::NeedsDotSlash);
    assert_eq!(problem(tls_scheme_path("etc")), PathProblem::NeedsDotSlash);
}

#[test]
fn a_scheme_asks_for_tls_or_is_unknown() {
    assert_eq!(scheme_is_tls("ZooKeeper"), Ok(false));
    assert_eq!(scheme_is_tls("zookeeper+TLS"), Ok(true));
    assert_eq!(
        scheme_is_tls("http"),
        Err(UrlError::UnknownScheme {
            scheme: "http".to_string()
        })
    );
}

fn arb_host() -> impl Strategy<Value = String> {
    prop_oneof![
        "[a-zA-Z0-9_][a-zA-Z0-9._-]{0,12}",
        any::<[u16; 8]>().prop_map(|s| format!("[{}]", Ipv6Addr::from(s))),
        any::<[u8; 4]>().prop_map(|o| format!("{}.{}.{}.{}", o[0], o[1], o[2], o[3])),
    ]
}

fn arb_server() -> impl Strategy<Value = String> {
    (arb_host(), proptest::option::of(1u16..)).prop_map(|(h, p)| match p {
        Some(p) => format!("{h}:{p}"),
        None => h,
    })
}

fn arb_component() -> impl Strategy<Value = String> {
    "[^/\\x00-\\x1f\\x7f-\\x9f?#\u{e000}-\u{f8ff}\u{fff0}-\u{ffff}]{1,6}"
        .prop_filter("dot components are invalid", |c| c != "." && c != "..")
}

fn arb_abs_path() -> impl Strategy<Value = String> {
    proptest::collection::vec(arb_component(), 0..4).prop_map(|cs| format!("/{}", cs.join("/")))
}

proptest! {
    #[test]
    fn canonical_form_round_trips(
        servers in proptest::collection::vec(arb_server(), 1..4),
        path in proptest::option::of(arb_abs_path()),
        url_form in any::<bool>(),
    ) {
        let list = servers.join(",");
        let text = match (&path, url_form) {
            (Some(p), true) => format!("zookeeper://{list}{p}"),
            (None, true) => format!("zookeeper://{list}"),
            (Some(p), false) => format!("{list}{p}"),
            (None, false) => list.clone(),
        };
        let parsed = ZkUrl::parse(&text);
        prop_assert!(parsed.is_ok(), "{text}: {parsed:?}");
        let Ok(u) = parsed else { unreachable!() };
        prop_assert_eq!(u.server_addrs().map(<[ServerAddr]>::len), Some(servers.len()));
        let expected_path = path.map_or(ZkPath::Unspecified, ZkPath::Absolute);
        prop_assert_eq!(u.path(), &expected_path);
        let again = ZkUrl::parse(&u.to_string());
        prop_assert_eq!(again.as_ref(), Ok(&u));
        // The normalised connect string is itself a connect string for the same servers.
        let servers_again = u.servers().map(|s| parse_servers(&s));
        prop_assert_eq!(servers_again, u.server_addrs().map(|a| Ok(a.to_vec())));
    }

    #[test]
    fn relative_round_trips(components in proptest::collection::vec(arb_component(), 1..4)) {
        let rel = components.join("/");
        let u = ZkUrl::parse(&format!("zookeeper:./{rel}"));
        prop_assert_eq!(u.as_ref().map(ZkUrl::path), Ok(&ZkPath::Relative(rel.clone())));
        let joined = join_path("/base", &rel);
        prop_assert_eq!(joined.clone(), Ok(format!("/base/{rel}")));
        prop_assert_eq!(joined.and_then(|j| validate_path(&j)), Ok(()));
    }

    #[test]
    fn parse_never_panics(s in "\\PC{0,40}") {
        let _ = ZkUrl::parse(&s);
    }

    #[test]
    fn parse_never_panics_on_url_like(s in "(zookeeper:|zookeeper://|zookeeper\\+tls:|zookeeper\\+tls://|\\[|)[\\[\\]:/.,a-z0-9]{0,20}") {
        if let Ok(u) = ZkUrl::parse(&s) {
            prop_assert_eq!(ZkUrl::parse(&u.to_string()), Ok(u));
        }
    }
}

proptest! {
    #[test]
    fn tls_canonical_form_round_trips(
        servers in proptest::collection::vec(arb_server(), 1..4),
        path in proptest::option::of(arb_abs_path()),
    ) {
        let text = format!("zookeeper+tls://{}{}", servers.join(","), path.clone().unwrap_or_default());
        let parsed = ZkUrl::parse(&text);
        prop_assert!(parsed.is_ok(), "{text}: {parsed:?}");
        let Ok(u) = parsed else { unreachable!() };
        prop_assert!(u.tls());
        prop_assert_eq!(u.path(), &path.map_or(ZkPath::Unspecified, ZkPath::Absolute));
        prop_assert!(u.to_string().starts_with("zookeeper+tls://"));
        prop_assert_eq!(ZkUrl::parse(&u.to_string()), Ok(u));
    }
}
