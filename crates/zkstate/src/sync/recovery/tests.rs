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
    let resync = Action::Resync(crate::metrics::Resync::Session);
    assert_eq!(actions, vec![resync, Action::Read(Read::Fetch)]);
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
    let resync = Action::Resync(crate::metrics::Resync::Reconnect);
    assert_eq!(actions, vec![resync, Action::Read(Read::Fetch)]);
    assert_eq!(next.reading, Some(Read::Fetch));
    // With a read in flight, the fetch is owed, and starts as a plain one.
    let (next, actions) = reading(Read::Stat).step(Input::Event(Event::Reconnected));
    assert!(actions.is_empty());
    assert_eq!(next.owed, Some(Read::Fetch));
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
    let (next, actions) = live().step(Input::RefreshAsked);
    assert_eq!(actions, vec![Action::Read(Read::Fetch)]);
    assert_eq!((next.asked, next.covered), (0, 1));
    let (_, actions) = next.step(Input::Fetched(Fetched::Applied));
    assert_eq!(actions, vec![Action::MarkVerified, Action::Answer(1)]);

    // Asked while a fetch is in flight: that fetch answers nobody, the owed one does.
    let (next, actions) = reading(Read::Fetch).step(Input::RefreshAsked);
    assert!(actions.is_empty());
    assert_eq!(next.owed, Some(Read::Fetch));
    assert_eq!((next.asked, next.covered), (1, 0));
    let (next, actions) = next.step(Input::Fetched(Fetched::Current));
    assert_eq!(
        actions,
        vec![Action::MarkVerified, Action::Read(Read::Fetch)]
    );
    assert_eq!((next.reading, next.owed), (Some(Read::Fetch), None));
    assert_eq!((next.asked, next.covered), (0, 1));
    let (_, actions) = next.step(Input::Fetched(Fetched::Current));
    assert_eq!(actions, vec![Action::MarkVerified, Action::Answer(1)]);
}

#[test]
fn a_refresh_asked_without_a_session_is_answered_by_the_arming_fetch() {
    let (next, actions) = run(
        Recovery::default(),
        &[
            Input::RefreshAsked,
            Input::SessionUp,
            Input::Armed(Armed::Ok),
        ],
    );
    assert_eq!(actions.last(), Some(&Action::Read(Read::Fetch)));
    assert_eq!((next.asked, next.covered), (0, 1));
}

#[test]
fn a_refused_fetch_answers_its_askers_with_the_error() {
    let start = Recovery {
        covered: 2,
        ..reading(Read::Fetch)
    };
    let (next, actions) = start.step(Input::Fetched(Fetched::Failed));
    assert_eq!(actions, vec![Action::Answer(2)]);
    assert_eq!((next.reading, next.covered), (None, 0));
}

#[test]
fn a_missing_payload_answers_the_askers_of_a_fetch_not_of_a_stat() {
    let start = Recovery {
        covered: 1,
        ..reading(Read::Fetch)
    };
    let (_, actions) = start.step(Input::Fetched(Fetched::Missing));
    assert_eq!(
        actions,
        vec![
            Action::ReportMissing,
            Action::MarkVerified,
            Action::Answer(1)
        ]
    );
    let start = Recovery {
        asked: 1,
        ..reading(Read::Stat)
    };
    let (next, actions) = start.step(Input::Stated(Stated::Missing));
    assert_eq!(actions, vec![Action::ReportMissing, Action::MarkVerified]);
    assert_eq!(next.asked, 1);
}

#[test]
fn the_askers_of_a_fetch_that_ends_without_an_answer_wait_for_a_later_one() {
    let start = Recovery {
        covered: 1,
        ..reading(Read::Fetch)
    };
    let (next, actions) = start.step(Input::Fetched(Fetched::Transient));
    assert!(actions.is_empty());
    assert_eq!((next.asked, next.covered), (1, 0));
    let (next, _) = start.step(Input::SessionOver);
    assert_eq!((next.asked, next.covered), (1, 0));
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
    let resync = Action::Resync(crate::metrics::Resync::Drift);
    assert_eq!(actions, vec![resync, Action::Read(Read::Fetch)]);
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
        ] {
            let (next, actions) = start.step(input);
            assert_eq!(next, start, "{phase:?} {input:?}");
            assert!(actions.is_empty());
        }
    }
}

#[test]
fn an_offered_payload_changes_nothing_in_any_phase() {
    for fetched in [Fetched::Applied, Fetched::Current, Fetched::Bad] {
        for start in [Recovery::default(), live(), reading(Read::Fetch)] {
            let (next, actions) = start.step(Input::Offered(fetched));
            assert_eq!((next, actions), (start, vec![]));
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

mod property {
    //! Random sequences of what the world can do, each valid where it is fed (a read's result
    //! only while that read is in flight, an arming's only while one runs, a write's end only
    //! after its start), checked against the machine's promises.

    use std::collections::VecDeque;

    use proptest::prelude::*;

    use super::*;

    /// The world around the machine: what is in flight, and the refreshes asked.
    #[derive(Default)]
    struct World {
        reading: Option<Read>,
        arming: bool,
        writes: u32,
        /// Fetches started so far; the one in flight is number `fetches`.
        fetches: u64,
        /// Per refresh asked and not answered, oldest first: the fetch it needs (the first one
        /// to start after it).
        asks: VecDeque<u64>,
    }

    impl World {
        /// What can happen now; `pick` chooses one.
        fn input(&self, pick: usize) -> Input {
            let mut can = vec![
                Input::SessionUp,
                Input::SessionOver,
                Input::Event(Event::DataChanged),
                Input::Event(Event::Created),
                Input::Event(Event::Deleted),
                Input::Event(Event::Reconnected),
                Input::Event(Event::Disconnected),
                Input::Event(Event::SessionEnded),
                Input::Tick,
                Input::RefreshAsked,
                Input::RefreshAsked,
                Input::WriteStarted,
                Input::Offered(Fetched::Applied),
            ];
            if self.writes > 0 {
                can.extend([Input::WriteAcknowledged, Input::WriteAbandoned]);
            }
            if self.arming {
                can.extend(
                    [Armed::Ok, Armed::Ok, Armed::Transient, Armed::SessionOver].map(Input::Armed),
                );
            }
            match self.reading {
                Some(Read::Fetch) => can.extend(
                    [
                        Fetched::Applied,
                        Fetched::Current,
                        Fetched::Bad,
                        Fetched::Missing,
                        Fetched::Failed,
                        Fetched::Transient,
                        Fetched::SessionOver,
                    ]
                    .map(Input::Fetched),
                ),
                Some(Read::Stat) => can.extend(
                    [
                        Stated::Same,
                        Stated::Moved,
                        Stated::Missing,
                        Stated::Transient,
                        Stated::SessionOver,
                    ]
                    .map(Input::Stated),
                ),
                None => {}
            }
            // Close is rare, so that sequences get somewhere first.
            if pick.is_multiple_of(97) {
                return Input::Close;
            }
            can[pick % can.len()]
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(3000))]

        /// At most one read in flight; `Closed` absorbs; every refresh asked is answered only
        /// by the end of a fetch that began after it, and such an end answers every one it can.
        #[test]
        fn recovery_keeps_its_promises(picks in prop::collection::vec(any::<usize>(), 0..200)) {
            let mut state = Recovery::default();
            let mut world = World::default();
            for pick in picks {
                let input = world.input(pick);
                let was_closed = state.phase == Phase::Closed;
                let (next, actions) = state.step(input);
                if was_closed {
                    prop_assert_eq!(next.phase, Phase::Closed);
                    let expected = if input == Input::Close { vec![Action::Stop] } else { vec![] };
                    prop_assert_eq!(actions, expected, "{:?} after close", input);
                    state = next;
                    continue;
                }
                // The input's effect on the world.
                match input {
                    Input::RefreshAsked => world.asks.push_back(world.fetches + 1),
                    Input::WriteStarted => world.writes += 1,
                    Input::WriteAcknowledged | Input::WriteAbandoned => world.writes -= 1,
                    Input::Armed(_) => world.arming = false,
                    Input::Fetched(_) | Input::Stated(_) => {
                        world.reading = None;
                    }
                    _ => {}
                }
                let ended_fetch = matches!(input, Input::Fetched(_));
                for action in &actions {
                    match *action {
                        Action::Read(read) => {
                            prop_assert_eq!(world.reading, None, "a second read after {:?}", input);
                            world.reading = Some(read);
                            if read == Read::Fetch {
                                world.fetches += 1;
                            }
                        }
                        Action::Answer(n) => {
                            prop_assert!(ended_fetch, "answered after {:?}", input);
                            // Actions are taken in order: a fetch this step starts comes
                            // after the answer, so the one that ended is number `fetches`.
                            let ended = world.fetches;
                            let can = world.asks.iter().take_while(|needs| **needs <= ended).count();
                            prop_assert_eq!(n as usize, can, "answered {} of {} after {:?}", n, can, input);
                            world.asks.drain(..can);
                        }
                        Action::Arm | Action::RetryArm => world.arming = true,
                        Action::WaitForSession => {
                            world.reading = None;
                            world.arming = false;
                        }
                        Action::Stop => {
                            world.reading = None;
                            world.asks.clear();
                        }
                        _ => {}
                    }
                }
                if input == Input::Close {
                    prop_assert_eq!(next.phase, Phase::Closed);
                }
                // What the machine counts of the askers is what the world has.
                prop_assert_eq!((next.asked + next.covered) as usize, world.asks.len());
                state = next;
            }
        }
    }
}
