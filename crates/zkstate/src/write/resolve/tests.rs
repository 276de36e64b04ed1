//! One test per row of the table in `resolve.rs`, then a property test over random inputs.

use proptest::prelude::*;
use zookeeper_client::Error as Zk;

use super::*;

const EXPECTED: i32 = 7;
const OWN: i64 = 0x11;

fn at(phase: Phase) -> Resolution {
    Resolution {
        phase,
        expected: EXPECTED,
        alive_in: Some(OWN),
    }
}

fn announcing() -> Resolution {
    Resolution {
        phase: Phase::Announce { session: 0x22 },
        expected: EXPECTED,
        alive_in: Some(OWN),
    }
}

fn step(mut r: Resolution, input: Input) -> (Resolution, Option<Action>) {
    let action = r.step(input);
    (r, action)
}

fn finish(outcome: Outcome) -> Option<Action> {
    Some(Action::Finish(outcome))
}

fn find(pause: bool) -> Option<Action> {
    Some(Action::FindSession { pause })
}

#[test]
fn past_the_deadline_the_outcome_is_unknown() {
    let (r, action) = step(at(Phase::Find), Input::Deadline);
    assert_eq!(action, finish(Outcome::Unknown(Unknown::Deadline)));
    assert_eq!(r.phase, Phase::Done);
}

#[test]
fn with_no_session_left_the_outcome_is_unknown() {
    let (r, action) = step(at(Phase::Find), Input::Closed);
    assert_eq!(action, finish(Outcome::Unknown(Unknown::Closed)));
    assert_eq!(r.phase, Phase::Done);
}

#[test]
fn no_session_within_the_wait_looks_again() {
    let (r, action) = step(at(Phase::Find), Input::NoSession);
    assert_eq!(action, find(false));
    assert_eq!(r.phase, Phase::Find);
}

#[test]
fn a_session_that_announced_itself_reads_at_once() {
    let (r, action) = step(at(Phase::Find), Input::Session(OWN));
    assert_eq!(action, Some(Action::Read));
    assert_eq!(r.phase, Phase::Read);
}

#[test]
fn a_new_session_announces_itself_before_reading() {
    let (r, action) = step(at(Phase::Find), Input::Session(0x22));
    assert_eq!(action, Some(Action::Announce));
    assert_eq!(r.phase, Phase::Announce { session: 0x22 });
}

#[test]
fn an_announcement_made_or_taken_over_reads_and_is_remembered() {
    for announced in [Announced::Created, Announced::Exists { replaced: true }] {
        let (r, action) = step(announcing(), Input::Announced(announced));
        assert_eq!(action, Some(Action::Read));
        assert_eq!((r.phase, r.alive_in), (Phase::Read, Some(0x22)));
    }
}

#[test]
fn an_announcement_not_taken_over_still_reads() {
    let input = Input::Announced(Announced::Exists { replaced: false });
    let (r, action) = step(announcing(), input);
    assert_eq!(action, Some(Action::Read));
    assert_eq!((r.phase, r.alive_in), (Phase::Read, Some(OWN)));
}

#[test]
fn a_marker_gone_when_announcing_is_unknown_and_removed() {
    let (_, action) = step(announcing(), Input::Announced(Announced::NoNode));
    assert_eq!(action, finish(Outcome::Unknown(Unknown::Removed)));
}

#[test]
fn an_announcement_refused_for_good_is_unknown() {
    let input = Input::Announced(Announced::Failed(Zk::NoAuth));
    let (_, action) = step(announcing(), input);
    let why = Unknown::Failed(Request::Announce, Zk::NoAuth);
    assert_eq!(action, finish(Outcome::Unknown(why)));
}

#[test]
fn an_announcement_that_may_succeed_later_pauses_and_looks_again() {
    for announced in [
        Announced::Failed(Zk::ConnectionLoss),
        Announced::Failed(Zk::SessionExpired),
        Announced::TimedOut,
    ] {
        let (r, action) = step(announcing(), Input::Announced(announced));
        assert_eq!((r.phase, action), (Phase::Find, find(true)));
    }
}

#[test]
fn our_token_in_the_marker_means_the_write_landed() {
    let read = Read::Marker {
        ours: true,
        version: EXPECTED + 1,
    };
    let (r, action) = step(at(Phase::Read), Input::Read(read));
    let landed = Outcome::Landed {
        marker_version: EXPECTED + 1,
    };
    assert_eq!((r.phase, action), (Phase::Done, finish(landed)));
}

#[test]
fn another_token_at_another_version_means_not_applied() {
    let read = Read::Marker {
        ours: false,
        version: EXPECTED + 1,
    };
    let (_, action) = step(at(Phase::Read), Input::Read(read));
    let not = Outcome::NotApplied {
        marker_version: EXPECTED + 1,
    };
    assert_eq!(action, finish(not));
}

#[test]
fn the_marker_unchanged_is_fenced() {
    let read = Read::Marker {
        ours: false,
        version: EXPECTED,
    };
    let (r, action) = step(at(Phase::Read), Input::Read(read));
    assert_eq!((r.phase, action), (Phase::Fence, Some(Action::Fence)));
}

#[test]
fn a_marker_gone_when_reading_is_unknown_and_removed() {
    let (_, action) = step(at(Phase::Read), Input::Read(Read::NoNode));
    assert_eq!(action, finish(Outcome::Unknown(Unknown::Removed)));
}

#[test]
fn a_read_refused_for_good_is_unknown() {
    let (_, action) = step(at(Phase::Read), Input::Read(Read::Failed(Zk::NoAuth)));
    let why = Unknown::Failed(Request::Read, Zk::NoAuth);
    assert_eq!(action, finish(Outcome::Unknown(why)));
}

#[test]
fn a_read_that_may_succeed_later_pauses_and_looks_again() {
    let input = Input::Read(Read::Failed(Zk::ConnectionLoss));
    let (r, action) = step(at(Phase::Read), input);
    assert_eq!((r.phase, action), (Phase::Find, find(true)));
}

#[test]
fn a_read_without_answer_looks_again_at_once() {
    let (r, action) = step(at(Phase::Read), Input::Read(Read::TimedOut));
    assert_eq!((r.phase, action), (Phase::Find, find(false)));
}

#[test]
fn a_fence_set_means_not_applied() {
    let fenced = Fenced::Set {
        version: EXPECTED + 1,
    };
    let (_, action) = step(at(Phase::Fence), Input::Fenced(fenced));
    let not = Outcome::NotApplied {
        marker_version: EXPECTED + 1,
    };
    assert_eq!(action, finish(not));
}

#[test]
fn a_fence_beaten_or_unanswered_reads_again() {
    for fenced in [
        Fenced::BadVersion,
        Fenced::Failed(Zk::ConnectionLoss),
        Fenced::TimedOut,
    ] {
        let (r, action) = step(at(Phase::Fence), Input::Fenced(fenced));
        assert_eq!((r.phase, action), (Phase::Find, find(false)));
    }
}

#[test]
fn a_fence_refused_for_good_is_unknown() {
    let input = Input::Fenced(Fenced::Failed(Zk::NoAuth));
    let (_, action) = step(at(Phase::Fence), input);
    let why = Unknown::Failed(Request::Fence, Zk::NoAuth);
    assert_eq!(action, finish(Outcome::Unknown(why)));
}

#[test]
fn a_done_resolution_takes_nothing_more() {
    let (r, action) = step(at(Phase::Done), Input::Session(OWN));
    assert_eq!((r, action), (at(Phase::Done), None));
}

#[test]
fn an_input_that_answers_another_action_changes_nothing() {
    let read = Input::Read(Read::Marker {
        ours: true,
        version: 1,
    });
    for (phase, input) in [
        (Phase::Find, read.clone()),
        (Phase::Read, Input::Session(OWN)),
        (Phase::Fence, read),
        (Phase::Find, Input::Fenced(Fenced::BadVersion)),
    ] {
        assert_eq!(step(at(phase), input), (at(phase), None));
    }
}

fn zk_error() -> impl Strategy<Value = Zk> {
    prop_oneof![
        Just(Zk::ConnectionLoss),
        Just(Zk::Timeout),
        Just(Zk::SessionExpired),
        Just(Zk::SessionMoved),
        Just(Zk::NoAuth),
        Just(Zk::ClientClosed),
    ]
}

fn input() -> impl Strategy<Value = Input> {
    let version = EXPECTED - 1..EXPECTED + 2;
    prop_oneof![
        Just(Input::Deadline),
        Just(Input::Closed),
        Just(Input::NoSession),
        (1i64..4).prop_map(Input::Session),
        Just(Input::Announced(Announced::Created)),
        any::<bool>().prop_map(|replaced| Input::Announced(Announced::Exists { replaced })),
        Just(Input::Announced(Announced::NoNode)),
        zk_error().prop_map(|e| Input::Announced(Announced::Failed(e))),
        Just(Input::Announced(Announced::TimedOut)),
        (any::<bool>(), version.clone())
            .prop_map(|(ours, version)| Input::Read(Read::Marker { ours, version })),
        Just(Input::Read(Read::NoNode)),
        zk_error().prop_map(|e| Input::Read(Read::Failed(e))),
        Just(Input::Read(Read::TimedOut)),
        version.prop_map(|version| Input::Fenced(Fenced::Set { version })),
        Just(Input::Fenced(Fenced::BadVersion)),
        zk_error().prop_map(|e| Input::Fenced(Fenced::Failed(e))),
        Just(Input::Fenced(Fenced::TimedOut)),
    ]
}

/// Whether `input` is an answer to `action`.
fn answers(action: &Action, input: &Input) -> bool {
    matches!(
        (action, input),
        (
            Action::FindSession { .. },
            Input::Deadline | Input::Closed | Input::NoSession | Input::Session(_)
        ) | (Action::Announce, Input::Announced(_))
            | (Action::Read, Input::Read(_))
            | (Action::Fence, Input::Fenced(_))
    )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    /// Over any sequence of inputs: one request at a time (an input that does not answer the
    /// action in flight changes nothing), `Done` absorbs, a marker is read in a session only
    /// once that session announced itself (or tried to), it is fenced only right after a read
    /// that found it unchanged, and the outcome is what the last answer said.
    #[test]
    fn the_resolver_keeps_its_protocol(inputs in prop::collection::vec(input(), 0..40)) {
        let mut r = Resolution::new(EXPECTED, Some(1));
        let mut action = Action::FindSession { pause: false };
        // The session asked, and whether it said that it lives.
        let mut session: Option<i64> = None;
        let mut announced = std::collections::HashSet::from([1]);
        for input in inputs {
            let before = r;
            let next = r.step(input.clone());
            if !answers(&action, &input) || matches!(action, Action::Finish(_)) {
                prop_assert_eq!(next, None);
                prop_assert_eq!(r, before);
                continue;
            }
            let next = next.expect("an answer to the action in flight has a next action");
            match &input {
                Input::Session(s) => session = Some(*s),
                Input::Announced(_) => {
                    announced.extend(session);
                }
                _ => {}
            }
            match &next {
                Action::Read => prop_assert!(session.is_some_and(|s| announced.contains(&s))),
                Action::Fence => {
                    let unchanged = Input::Read(Read::Marker {
                        ours: false,
                        version: EXPECTED,
                    });
                    prop_assert_eq!(&input, &unchanged);
                }
                Action::Finish(Outcome::Landed { marker_version }) => prop_assert_eq!(
                    &input,
                    &Input::Read(Read::Marker { ours: true, version: *marker_version })
                ),
                Action::Finish(Outcome::NotApplied { marker_version }) => {
                    let version = *marker_version;
                    let fenced = input == Input::Fenced(Fenced::Set { version });
                    let moved = version != EXPECTED
                        && input == Input::Read(Read::Marker { ours: false, version });
                    prop_assert!(fenced || moved);
                }
                _ => {}
            }
            if matches!(next, Action::Finish(_)) {
                prop_assert_eq!(r.phase, Phase::Done);
            }
            action = next;
        }
    }
}
