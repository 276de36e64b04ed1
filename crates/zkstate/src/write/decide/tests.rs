//! One test per row of the tables in `decide.rs`.

use std::time::Duration;

use zookeeper_client::CheckWriteError;

use super::*;

const A: Held = Held {
    version: 4,
    czxid: 10,
};
/// Another write of the same incarnation.
const NEWER: Held = Held {
    version: 5,
    czxid: 10,
};
/// The same version of another incarnation (deleted and re-created).
const REBORN: Held = Held {
    version: 4,
    czxid: 99,
};

fn seen(held: Held, local: Held) -> Seen {
    Seen {
        held,
        local,
        bad: None,
        fresh: false,
    }
}

fn stale(expected: i32) -> Choice {
    Choice::Stale {
        expected,
        refresh: true,
    }
}

#[test]
fn local_and_latest_write_at_the_copys_version_when_zookeeper_holds_it() {
    assert_eq!(choose_base(Base::Local, seen(A, A)), Choice::Write(4));
    assert_eq!(choose_base(Base::Latest, seen(A, A)), Choice::Write(4));
}

#[test]
fn latest_writes_over_a_payload_that_does_not_decode_at_its_version() {
    let bad = Seen {
        bad: Some(5),
        ..seen(NEWER, A)
    };
    assert_eq!(choose_base(Base::Latest, bad), Choice::Write(5));
}

#[test]
fn latest_refreshes_when_zookeeper_holds_another_write() {
    assert_eq!(choose_base(Base::Latest, seen(NEWER, A)), Choice::Refresh);
    assert_eq!(choose_base(Base::Latest, seen(REBORN, A)), Choice::Refresh);
    // A fault of another version than ZooKeeper's is no reason to write over it.
    let old_fault = Seen {
        bad: Some(3),
        ..seen(NEWER, A)
    };
    assert_eq!(choose_base(Base::Latest, old_fault), Choice::Refresh);
}

#[test]
fn local_is_stale_when_zookeeper_holds_another_write_or_incarnation() {
    assert_eq!(choose_base(Base::Local, seen(NEWER, A)), stale(4));
    assert_eq!(choose_base(Base::Local, seen(REBORN, A)), stale(4));
    // Even over a payload that does not decode: `Local` compares against the copy.
    let bad = Seen {
        bad: Some(5),
        ..seen(NEWER, A)
    };
    assert_eq!(choose_base(Base::Local, bad), stale(4));
}

#[test]
fn exact_is_stale_when_zookeeper_holds_another_version() {
    assert_eq!(choose_base(Base::Exact(4), seen(NEWER, A)), stale(4));
    assert_eq!(choose_base(Base::Exact(7), seen(A, A)), stale(7));
}

#[test]
fn exact_writes_when_zookeeper_and_the_copy_hold_the_compared_version() {
    assert_eq!(choose_base(Base::Exact(4), seen(A, A)), Choice::Write(4));
}

#[test]
fn exact_writes_over_a_compared_version_that_does_not_decode() {
    let bad = Seen {
        bad: Some(5),
        ..seen(NEWER, A)
    };
    assert_eq!(choose_base(Base::Exact(5), bad), Choice::Write(5));
}

#[test]
fn exact_refreshes_a_copy_of_another_write_than_the_compared_one() {
    // ZooKeeper holds version 5 and the copy is still at 4.
    assert_eq!(choose_base(Base::Exact(5), seen(NEWER, A)), Choice::Refresh);
    // Same version, another incarnation.
    assert_eq!(
        choose_base(Base::Exact(4), seen(REBORN, A)),
        Choice::Refresh
    );
}

#[test]
fn a_stale_choice_after_a_refresh_does_not_refresh_again() {
    let fresh = Seen {
        fresh: true,
        ..seen(NEWER, NEWER)
    };
    assert_eq!(
        choose_base(Base::Exact(4), fresh),
        Choice::Stale {
            expected: 4,
            refresh: false
        }
    );
}

#[test]
fn after_a_bypassing_writer_latest_chooses_again_and_the_others_are_stale() {
    assert_eq!(after_bypass(Base::Latest, 4), None);
    assert_eq!(after_bypass(Base::Exact(9), 4), Some(9));
    assert_eq!(after_bypass(Base::Local, 4), Some(4));
}

fn zk(source: zookeeper_client::Error) -> Error {
    Error::ZooKeeper {
        op: "acquiring lock",
        path: "/a/lock".into(),
        source,
    }
}

#[test]
fn a_lock_lost_to_expiry_or_a_vanished_node_starts_over() {
    use zookeeper_client::Error::*;
    for source in [SessionExpired, RuntimeInconsistent] {
        assert_eq!(after_lock_failure(&zk(source)), LockFailed::StartOver);
    }
}

#[test]
fn any_other_lock_failure_is_returned() {
    use zookeeper_client::Error::*;
    let timeout = Error::LockTimeout {
        path: "/a/lock".into(),
        waited: Duration::from_secs(1),
    };
    assert_eq!(after_lock_failure(&timeout), LockFailed::Fail);
    let denied = Error::PermissionDenied {
        path: "/a/lock".into(),
    };
    assert_eq!(after_lock_failure(&denied), LockFailed::Fail);
    for source in [
        ConnectionLoss,
        ClientClosed,
        Throttled,
        SessionMoved,
        BadArguments(&"x"),
    ] {
        assert_eq!(after_lock_failure(&zk(source)), LockFailed::Fail);
    }
    let planted = Error::LockNotHeld {
        path: "/a/lock/x".into(),
    };
    assert_eq!(after_lock_failure(&planted), LockFailed::Fail);
}

#[test]
fn a_failed_lock_check_means_the_lock_was_lost() {
    let failure = CheckWriteError::CheckFailed {
        source: zookeeper_client::Error::NoNode,
    };
    assert_eq!(after_commit(Some(&failure)), AfterCommit::LockLost);
}

#[test]
fn a_bad_payload_version_means_a_writer_bypassed_the_lock() {
    let failure = CheckWriteError::OperationFailed {
        index: PAYLOAD_OP,
        source: zookeeper_client::Error::BadVersion,
    };
    assert_eq!(after_commit(Some(&failure)), AfterCommit::Bypassed);
}

#[test]
fn any_failure_at_the_marker_means_it_moved() {
    use zookeeper_client::Error::*;
    for source in [BadVersion, NoNode] {
        let failure = CheckWriteError::OperationFailed {
            index: MARKER_OP,
            source,
        };
        assert_eq!(after_commit(Some(&failure)), AfterCommit::MarkerMoved);
    }
}

#[test]
fn an_entry_created_or_removed_by_another_tool_means_the_history_moved() {
    use zookeeper_client::Error::*;
    for (index, source) in [
        (FIRST_HISTORY_OP, NodeExists),
        (FIRST_HISTORY_OP + 2, NoNode),
    ] {
        let failure = CheckWriteError::OperationFailed { index, source };
        assert_eq!(after_commit(Some(&failure)), AfterCommit::HistoryMoved);
    }
    let denied = CheckWriteError::OperationFailed {
        index: FIRST_HISTORY_OP,
        source: NoAuth,
    };
    assert_eq!(after_commit(Some(&denied)), AfterCommit::Refused);
}

#[test]
fn another_failed_operation_is_refused() {
    use zookeeper_client::Error::*;
    let payload_denied = CheckWriteError::OperationFailed {
        index: PAYLOAD_OP,
        source: NoAuth,
    };
    assert_eq!(after_commit(Some(&payload_denied)), AfterCommit::Refused);
    let lock_delete = CheckWriteError::OperationFailed {
        index: 2,
        source: NoNode,
    };
    assert_eq!(after_commit(Some(&lock_delete)), AfterCommit::Refused);
}

#[test]
fn a_request_refused_as_a_whole_is_refused() {
    use zookeeper_client::Error::*;
    for source in [NoAuth, InvalidAcl, MarshallingError, BadArguments(&"x")] {
        let failure = CheckWriteError::RequestFailed { source };
        assert_eq!(after_commit(Some(&failure)), AfterCommit::Refused);
    }
}

#[test]
fn a_dropped_link_an_ended_session_or_a_busy_server_leaves_the_outcome_to_the_marker() {
    use zookeeper_client::Error::*;
    for source in [
        ConnectionLoss,
        Timeout,
        SessionExpired,
        ClientClosed,
        Throttled,
        SessionMoved,
    ] {
        let failure = CheckWriteError::RequestFailed { source };
        assert_eq!(after_commit(Some(&failure)), AfterCommit::Lost);
    }
}

#[test]
fn no_answer_in_time_leaves_the_outcome_to_the_marker() {
    assert_eq!(after_commit(None), AfterCommit::Lost);
}
