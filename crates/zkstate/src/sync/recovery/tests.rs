//! The rows of the recovery table, one test each, without ZooKeeper.

use super::*;

fn live() -> Recovery {
    Recovery {
        phase: Phase::Live,
        ..Recovery::default()
    }
}

fn reading(read: Read) -> Recovery {
    Recovery {
        reading: Some(read),
        ..live()
    }
}

/// Steps through `inputs`, returning the last state and every action in order.
fn run(start: Recovery, inputs: &[Input]) -> (Recovery, Vec<Action>) {
    let mut state = start;
    let mut all = Vec::new();
    for input in inputs {
        let (next, actions) = state.step(*input);
        state = next;
        all.extend(actions);
    }
    (state, all)
}

#[test]
fn close_stops_from_every_phase() {
    for phase in [Phase::Waiting, Phase::Arming, Phase::Live, Phase::Closed] {
        let start = Recovery {
            phase,
            reading: Some(Read::Fetch),
            ..Recovery::default()
        };
        let (next, actions) = start.step(Input::Close);
        assert_eq!(next.phase, Phase::Closed);
        assert_eq!(next.reading, None);
        assert_eq!(actions, vec![Action::Stop]);
    }
}

#[test]
fn closed_ignores_everything_else() {
    let closed = Recovery {
        phase: Phase::Closed,
        ..Recovery::default()
    };
    for input in [
        Input::SessionUp,
        Input::Tick,
        Input::Event(Event::DataChanged),
    ] {
        let (next, actions) = closed.step(input);
        assert_eq!(next.phase, Phase::Closed);
        assert!(actions.is_empty(), "{input:?}: {actions:?}");
    }
}

#[test]
fn waiting_arms_on_a_session() {
    let (next, actions) = Recovery::default().step(Input::SessionUp);
    assert_eq!(next.phase, Phase::Arming);
    assert_eq!(actions, vec![Action::Arm]);
}

#[test]
fn armed_goes_live_and_fetches() {
    let arming = Recovery {
        phase: Phase::Arming,
        ..Recovery::default()
    };
    let (next, actions) = arming.step(Input::Armed(Armed::Ok));
    assert_eq!(next.phase, Phase::Live);
    assert_eq!(next.reading, Some(Read::Fetch));
    assert_eq!(actions, vec![Action::Read(Read::Fetch)]);
}

#[test]
fn a_transient_arming_failure_retries_in_the_same_session() {
    let arming = Recovery {
        phase: Phase::Arming,
        ..Recovery::default()
    };
    let (next, actions) = arming.step(Input::Armed(Armed::Transient));
    assert_eq!(next.phase, Phase::Arming);
    assert_eq!(actions, vec![Action::RetryArm]);
}

#[test]
fn every_end_of_session_waits_for_the_next_one() {
    let ends = [
        Input::SessionOver,
        Input::Armed(Armed::SessionOver),
        Input::Event(Event::SessionEnded),
        Input::Fetched(Fetched::SessionOver),
        Input::Stated(Stated::SessionOver),
    ];
    for phase in [Phase::Arming, Phase::Live] {
        for input in ends {
            let start = Recovery {
                phase,
                reading: Some(Read::Stat),
                owed: Some(Read::Fetch),
                echoes: 2,
                held: 1,
                writes: 1,
                ..Recovery::default()
            };
            let (next, actions) = start.step(input);
            assert_eq!(next.phase, Phase::Waiting, "{phase:?} {input:?}");
            assert_eq!(actions, vec![Action::WaitForSession]);
            assert_eq!((next.reading, next.owed), (None, None));
            assert_eq!((next.echoes, next.held), (0, 0), "echo counts start over");
            assert_eq!(next.writes, 1, "a write in flight stays counted");
        }
    }
}

#[test]
fn a_reconnection_fetches_because_events_may_be_lost() {
    let (next, actions) = live().step(Input::Event(Event::Reconnected));
    assert_eq!(actions, vec![Action::Read(Read::Fetch)]);
    assert_eq!(next.reading, Some(Read::Fetch));
}

#[test]
fn a_disconnection_alone_does_nothing() {
    let (next, actions) = live().step(Input::Event(Event::Disconnected));
    assert_eq!(next, live());
    assert!(actions.is_empty());
}

#[test]
fn a_remote_change_is_fetched() {
    let (_, actions) = live().step(Input::Event(Event::DataChanged));
    assert_eq!(actions, vec![Action::Read(Read::Fetch)]);
}

#[test]
fn the_echo_of_an_acknowledged_local_write_is_answered_with_a_stat() {
    let (next, actions) = run(
        live(),
        &[
            Input::WriteStarted,
            Input::WriteAcknowledged,
            Input::Event(Event::DataChanged),
        ],
    );
    assert_eq!(actions, vec![Action::Read(Read::Stat)]);
    assert_eq!((next.echoes, next.writes), (0, 0));
}

#[test]
fn an_event_during_a_local_write_is_held_then_answered_with_a_stat() {
    let (held, actions) = run(
        live(),
        &[Input::WriteStarted, Input::Event(Event::DataChanged)],
    );
    assert!(actions.is_empty(), "held: {actions:?}");
    assert_eq!(held.held, 1);
    let (next, actions) = held.step(Input::WriteAcknowledged);
    assert_eq!(actions, vec![Action::Read(Read::Stat)]);
    assert_eq!((next.held, next.echoes), (0, 0));
}

#[test]
fn an_event_held_for_a_write_that_was_not_applied_is_fetched() {
    let (next, actions) = run(
        live(),
        &[
            Input::WriteStarted,
            Input::Event(Event::DataChanged),
            Input::WriteAbandoned,
        ],
    );
    assert_eq!(actions, vec![Action::Read(Read::Fetch)]);
    assert_eq!(next.held, 0);
}

#[test]
fn a_created_payload_is_fetched_and_its_records_come_back() {
    let (next, actions) = run(
        live(),
        &[
            Input::Event(Event::Deleted),
            Input::Event(Event::Created),
            Input::Fetched(Fetched::Applied),
        ],
    );
    assert_eq!(
        actions,
        vec![
            Action::ReportMissing,
            Action::Read(Read::Fetch),
            Action::MarkVerified,
            Action::Register
        ]
    );
    assert!(!next.payload_gone);
}

#[test]
fn a_tick_stats_when_idle_and_does_nothing_while_reading() {
    let (next, actions) = live().step(Input::Tick);
    assert_eq!(actions, vec![Action::Read(Read::Stat)]);
    assert_eq!(next.reading, Some(Read::Stat));
    let (next, actions) = reading(Read::Fetch).step(Input::Tick);
    assert!(actions.is_empty());
    assert_eq!(next.owed, None);
}

#[test]
fn a_refresh_fetches_or_is_owed_a_fetch_that_starts_after_it() {
    let (_, actions) = live().step(Input::RefreshAsked);
    assert_eq!(actions, vec![Action::Read(Read::Fetch)]);
    let (next, actions) = reading(Read::Fetch).step(Input::RefreshAsked);
    assert!(actions.is_empty());
    assert_eq!(next.owed, Some(Read::Fetch));
    let (next, actions) = next.step(Input::Fetched(Fetched::Current));
    assert_eq!(
        actions,
        vec![Action::MarkVerified, Action::Read(Read::Fetch)]
    );
    assert_eq!((next.reading, next.owed), (Some(Read::Fetch), None));
}

#[test]
fn an_owed_fetch_wins_over_an_owed_stat() {
    let (next, _) = run(
        reading(Read::Fetch),
        &[Input::Event(Event::DataChanged), Input::Tick],
    );
    assert_eq!(next.owed, Some(Read::Fetch));
    let start = Recovery {
        owed: Some(Read::Stat),
        ..reading(Read::Fetch)
    };
    let (next, _) = start.step(Input::RefreshAsked);
    assert_eq!(next.owed, Some(Read::Fetch));
}

#[test]
fn a_fetch_verifies_the_copy() {
    for fetched in [Fetched::Applied, Fetched::Current] {
        let (next, actions) = reading(Read::Fetch).step(Input::Fetched(fetched));
        assert_eq!(actions, vec![Action::MarkVerified]);
        assert_eq!(next.reading, None);
    }
}

#[test]
fn a_failed_fetch_only_starts_the_owed_read() {
    let (next, actions) = reading(Read::Fetch).step(Input::Fetched(Fetched::Transient));
    assert!(actions.is_empty());
    assert_eq!(next.reading, None);
    let start = Recovery {
        owed: Some(Read::Fetch),
        ..reading(Read::Fetch)
    };
    let (_, actions) = start.step(Input::Fetched(Fetched::Transient));
    assert_eq!(actions, vec![Action::Read(Read::Fetch)]);
    let (_, actions) = reading(Read::Stat).step(Input::Stated(Stated::Transient));
    assert!(actions.is_empty());
}

#[test]
fn a_bad_payload_is_verified_knowledge_then_the_owed_read_starts() {
    let (next, actions) = reading(Read::Fetch).step(Input::Fetched(Fetched::Bad));
    assert_eq!(actions, vec![Action::MarkVerified]);
    assert_eq!(next.reading, None);
    let start = Recovery {
        owed: Some(Read::Fetch),
        ..reading(Read::Fetch)
    };
    let (_, actions) = start.step(Input::Fetched(Fetched::Bad));
    assert_eq!(
        actions,
        vec![Action::MarkVerified, Action::Read(Read::Fetch)]
    );
}

#[test]
fn a_missing_payload_is_reported_then_verified() {
    let (next, actions) = reading(Read::Fetch).step(Input::Fetched(Fetched::Missing));
    assert_eq!(actions, vec![Action::ReportMissing, Action::MarkVerified]);
    assert!(next.payload_gone);
    let (next, actions) = reading(Read::Stat).step(Input::Stated(Stated::Missing));
    assert_eq!(actions, vec![Action::ReportMissing, Action::MarkVerified]);
    assert!(next.payload_gone);
}

#[test]
fn a_same_stat_verifies_and_a_moved_one_fetches() {
    let (_, actions) = reading(Read::Stat).step(Input::Stated(Stated::Same));
    assert_eq!(actions, vec![Action::MarkVerified]);
    let (next, actions) = reading(Read::Stat).step(Input::Stated(Stated::Moved));
    assert_eq!(actions, vec![Action::Read(Read::Fetch)]);
    assert_eq!(next.reading, Some(Read::Fetch));
}

#[test]
fn waiting_and_arming_drop_reads_and_events_of_an_old_session() {
    for phase in [Phase::Waiting, Phase::Arming] {
        let start = Recovery {
            phase,
            ..Recovery::default()
        };
        for input in [
            Input::Tick,
            Input::Event(Event::DataChanged),
            Input::Fetched(Fetched::Applied),
            Input::Stated(Stated::Same),
            Input::RefreshAsked,
        ] {
            let (next, actions) = start.step(input);
            assert_eq!(next, start, "{phase:?} {input:?}");
            assert!(actions.is_empty());
        }
    }
}

#[test]
fn writes_are_counted_in_every_phase() {
    for phase in [Phase::Waiting, Phase::Arming, Phase::Live] {
        let start = Recovery {
            phase,
            ..Recovery::default()
        };
        let (next, _) = run(start, &[Input::WriteStarted, Input::WriteStarted]);
        assert_eq!(next.writes, 2);
        let (next, _) = run(next, &[Input::WriteAbandoned, Input::WriteAcknowledged]);
        assert_eq!(next.writes, 0);
    }
}

#[test]
fn a_burst_of_remote_changes_coalesces_into_one_owed_fetch() {
    let (next, actions) = run(
        live(),
        &[
            Input::Event(Event::DataChanged),
            Input::Event(Event::DataChanged),
            Input::Event(Event::DataChanged),
        ],
    );
    assert_eq!(actions, vec![Action::Read(Read::Fetch)]);
    assert_eq!(next.owed, Some(Read::Fetch));
    let (next, actions) = next.step(Input::Fetched(Fetched::Applied));
    assert_eq!(
        actions,
        vec![Action::MarkVerified, Action::Read(Read::Fetch)]
    );
    assert_eq!(next.owed, None);
}
