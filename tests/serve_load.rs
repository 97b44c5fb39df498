//! A few hundred mixed AdmissionReviews at once (good and bad images: signed tags, digests, tag
//! and digest together, unsigned, wrong key, missing delegation, no policy, bad references)
//! against `trustpin serve` over a real notary-server: every decision must be the answer of
//! sequential `trustpin resolve` runs for the same images, with no error responses. The 20,000
//! review version, with its figures, is benches/serve_load.rs (tools/bench-serve).

mod common;

use common::load::{load, Mixed};

#[test]
fn mixed_reviews_at_once_decide_as_sequential_resolve_does() {
    let mixed = Mixed::new();
    let hook = mixed.world.serve(&[]);
    let cases = mixed.reviews(400, true);
    let bodies: Vec<_> = cases.iter().map(|c| c.body()).collect();
    let (answers, wall) = load(hook.addr, &hook.pki.ca_pem, &bodies, 16, 2);
    let mut wrong = Vec::new();
    let mut denied = 0;
    for (case, answer) in cases.iter().zip(&answers) {
        let verdict = match answer {
            Ok(a) => mixed.check(case, a.status, &a.body),
            Err(e) => Err(format!("no answer: {e}")),
        };
        if let Err(e) = verdict {
            wrong.push(e);
        }
        if case.positions.iter().any(|(_, i)| !mixed.images[*i].ok()) {
            denied += 1;
        }
    }
    eprintln!(
        "{}\n{} reviews ({denied} to deny) in {wall:?}",
        mixed.describe(),
        cases.len()
    );
    assert!(
        wrong.is_empty(),
        "{} wrong: {:#?}",
        wrong.len(),
        &wrong[..wrong.len().min(5)]
    );
    // Both kinds of answer were exercised.
    assert!(
        denied > 50 && denied < 350,
        "{denied} of {} denied",
        cases.len()
    );
}
