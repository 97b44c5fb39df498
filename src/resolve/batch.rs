//! Many references at once: each is given a plan (the flags', or its trust policy's), references
//! are grouped into jobs of one repository at one location under one plan, and every job is
//! fetched and verified once, `jobs` at a time, however many of its tags were asked for. This is
//! the one place batches are planned; resolve, inspect, archive and pin all go through it.
//!
//! A reference under a Notation statement is verified on its own (its registry's manifest and
//! signatures, [`super::notation`]), `jobs` references at once, the same reference once however
//! often it is named; under a statement with both generations, both answers are combined.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicUsize, Ordering};

use crate::fetch::cache::Cache;
use crate::fetch::oci::RegistrySource;
use crate::fetch::Source;
use crate::notation::revocation::RevocationChecker;
use crate::policy::{Generation, Policy, PolicySet, Verification};
use crate::reference::{self, Gun, ImageRef};
use crate::resolve::notation::revocation_checker;
use crate::resolve::notation::{self, NotationResolution, NotationState};
use crate::resolve::SetupError;
use crate::resolve::{fetch_repo_cached, select_ref, Fetched, Options, Resolution, ResolveError};

/// How references are checked: one plan per trust policy, or the one plan of the flags.
#[derive(Debug, Clone)]
pub struct Plan {
    pub opts: Options,
    /// The policy's name, when a policy made this plan.
    pub policy: Option<String>,
    /// The policy says `skip`: nothing is verified.
    pub skip: bool,
}

/// The plans, and how a repository finds its own.
#[derive(Debug, Clone)]
pub struct Plans {
    pub plans: Vec<Plan>,
    /// With a policy file, plan `i` is its policy `i`; without, every repository gets plan 0.
    pub policies: Option<PolicySet>,
}

impl Plans {
    /// One plan for every repository.
    pub fn single(plan: Plan) -> Plans {
        Plans {
            plans: vec![plan],
            policies: None,
        }
    }

    /// The plan for a repository, if any scope matches it.
    pub fn index_for(&self, gun: &str) -> Option<usize> {
        match &self.policies {
            None => Some(0),
            Some(set) => set.index_for(gun),
        }
    }

    /// The policy that made plan `ix`, if a policy file made the plans.
    pub fn policy(&self, ix: usize) -> Option<&Policy> {
        self.policies.as_ref().and_then(|s| s.policies.get(ix))
    }

    /// Whether plan `ix` verifies Notary v1 signatures (the flags' plan always does).
    pub fn notary_v1(&self, ix: usize) -> bool {
        self.policy(ix)
            .is_none_or(|p| p.generations().contains(&Generation::NotaryV1))
    }

    /// One plan per policy of `set`, each from `base` with the policy's keys, delegations and
    /// level (the source settings of a policy are the caller's: see [`Sources`]).
    pub fn from_policies(base: &Options, set: PolicySet) -> Plans {
        let plans = set
            .policies
            .iter()
            .map(|p| {
                let mut opts = base.clone();
                opts.pinned = p.trust_roots.clone();
                opts.required = p.required_delegations.clone();
                if let Verification::Verify(level) = p.verification {
                    opts.level = level;
                }
                Plan {
                    opts,
                    policy: Some(p.name.clone()),
                    skip: p.verification == Verification::Skip,
                }
            })
            .collect();
        Plans {
            plans,
            policies: Some(set),
        }
    }
}

/// Where a plan's trust data comes from; the caller (flags, a server's configuration) decides.
pub trait Sources: Sync {
    /// A name for where `image`'s trust data lives under plan `plan` (a URL, `dir:<path>`):
    /// repositories with the same location share one source and one connection pool.
    fn location(&self, plan: usize, image: &ImageRef) -> String;
    /// Open the source for a location.
    fn open(&self, plan: usize, location: &str) -> Result<Box<dyn Source>, SetupError>;
    /// Open registry `registry` (`host[:port]`) for plan `plan`'s Notation signatures.
    fn registry(&self, plan: usize, registry: &str) -> Result<RegistrySource, SetupError>;
    /// Extra CA certificates (PEM files) for https OCSP responders and CRL distribution points:
    /// every plan's `--ca-cert`, as `trustpin verify` uses its own.
    fn revocation_ca_certs(&self) -> Vec<std::path::PathBuf> {
        Vec::new()
    }
}

/// What became of one reference.
#[derive(Debug, Clone)]
pub enum Answer {
    Trusted(Resolution),
    /// The policy says skip: printed as given, NOT VERIFIED.
    Skipped,
    Failed(ResolveError),
    /// Planned, not yet resolved (only before [`run`] has finished its job).
    Pending,
}

/// One reference and its answer.
#[derive(Debug, Clone)]
pub struct Outcome {
    pub input: String,
    pub image: Option<ImageRef>,
    /// The plan it was given, if any.
    pub plan: Option<usize>,
    pub policy: Option<String>,
    pub answer: Answer,
    /// The generations whose signatures verified it (when trusted).
    pub generations: Vec<Generation>,
    /// The Notation verification, when its Notation signatures verified.
    pub notation: Option<NotationResolution>,
    /// Its statement names both generations (the output says which verified).
    pub two_generations: bool,
}

impl Outcome {
    /// The outcome's error, if it failed.
    pub fn error(&self) -> Option<&ResolveError> {
        match &self.answer {
            Answer::Failed(e) => Some(e),
            _ => None,
        }
    }
}

/// One repository at one location under one plan, and the outcomes that wait for it.
#[derive(Debug, Clone)]
pub struct Job {
    pub plan: usize,
    pub location: String,
    pub gun: Gun,
    /// Indexes into the outcomes.
    pub members: Vec<usize>,
}

/// Parse every input and give it a plan; group what needs fetching into jobs. Outcomes that are
/// already final (bad reference, no policy, skip) are filled in; the rest are [`Answer::Pending`].
pub fn plan(inputs: Vec<String>, plans: &Plans, sources: &dyn Sources) -> (Vec<Outcome>, Vec<Job>) {
    let mut outcomes = Vec::with_capacity(inputs.len());
    let mut jobs: Vec<Job> = Vec::new();
    let mut job_of: BTreeMap<(usize, String, Gun), usize> = BTreeMap::new();
    for input in inputs {
        let image = match reference::parse(&input) {
            Ok(i) => i,
            Err(e) => {
                outcomes.push(Outcome {
                    input,
                    image: None,
                    plan: None,
                    policy: None,
                    answer: Answer::Failed(e.into()),
                    generations: Vec::new(),
                    notation: None,
                    two_generations: false,
                });
                continue;
            }
        };
        let Some(ix) = plans.index_for(&image.gun) else {
            let gun = image.gun.clone();
            outcomes.push(Outcome {
                input,
                image: Some(image),
                plan: None,
                policy: None,
                answer: Answer::Failed(ResolveError::NoPolicy { gun }),
                generations: Vec::new(),
                notation: None,
                two_generations: false,
            });
            continue;
        };
        let p = &plans.plans[ix];
        let answer = if p.skip {
            Answer::Skipped
        } else if !plans.notary_v1(ix) {
            // Notation only: verified per reference, not per repository.
            Answer::Pending
        } else {
            let location = sources.location(ix, &image);
            let key = (ix, location.clone(), image.gun.clone());
            let j = *job_of.entry(key).or_insert_with(|| {
                jobs.push(Job {
                    plan: ix,
                    location,
                    gun: image.gun.clone(),
                    members: Vec::new(),
                });
                jobs.len() - 1
            });
            jobs[j].members.push(outcomes.len());
            Answer::Pending
        };
        outcomes.push(Outcome {
            input,
            image: Some(image),
            plan: Some(ix),
            policy: p.policy.clone(),
            answer,
            generations: Vec::new(),
            notation: None,
            two_generations: false,
        });
    }
    (outcomes, jobs)
}

/// Sees each job's result: its index, its source (if it could be opened), the verified repository.
pub type JobDone<'a, E> =
    dyn FnMut(usize, Option<&dyn Source>, Result<Fetched, ResolveError>) -> Result<(), E> + 'a;

/// Fetch and verify every job, `parallel` at a time (one source per plan and location, opened
/// once). `done` sees each job's result on the calling thread as it finishes, with its source.
pub fn run<E>(
    jobs: &[Job],
    plans: &Plans,
    sources: &dyn Sources,
    parallel: usize,
    cache: Option<&Cache>,
    done: &mut JobDone<'_, E>,
) -> Result<(), E> {
    let mut opened: BTreeMap<(usize, String), Result<Box<dyn Source>, ResolveError>> =
        BTreeMap::new();
    for job in jobs {
        opened
            .entry((job.plan, job.location.clone()))
            .or_insert_with(|| sources.open(job.plan, &job.location).map_err(Into::into));
    }
    let source_of = |job: &Job| &opened[&(job.plan, job.location.clone())];
    let next = AtomicUsize::new(0);
    let work = |tx: std::sync::mpsc::Sender<(usize, Result<Fetched, ResolveError>)>| loop {
        let j = next.fetch_add(1, Ordering::Relaxed);
        let Some(job) = jobs.get(j) else { break };
        let result = match source_of(job) {
            Ok(source) => fetch_repo_cached(
                source.as_ref(),
                &job.gun,
                &plans.plans[job.plan].opts,
                cache,
            ),
            Err(e) => Err(e.clone()),
        };
        if tx.send((j, result)).is_err() {
            break;
        }
    };
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::scope(|scope| {
        if jobs.len() <= 1 {
            // One repository: no worker thread (its start-up and its own heap cost more than
            // the fetch overlaps, which happen inside the source anyway).
            work(tx);
        } else {
            for _ in 0..parallel.clamp(1, 64).min(jobs.len()) {
                let tx = tx.clone();
                scope.spawn(|| work(tx));
            }
            drop(tx);
        }
        for (j, result) in rx {
            let source = source_of(&jobs[j]).as_ref().ok().map(|s| s.as_ref());
            done(j, source, result)?;
        }
        Ok(())
    })
}

/// Resolve every input: [`plan`], then the Notation references (`verify_notation`), then
/// [`run`], selecting each member's digest as its repository finishes. `on_final` sees each
/// outcome as soon as it is final (final ones first, for jsonl); the result is in input order.
/// `announce` sees each plan the first time an input uses it, in input order, before anything
/// is fetched.
pub fn resolve_all<E>(
    inputs: Vec<String>,
    plans: &Plans,
    sources: &dyn Sources,
    parallel: usize,
    cache: Option<&Cache>,
    announce: &mut dyn FnMut(&Plan),
    on_final: &mut dyn FnMut(&Outcome, usize, usize) -> Result<(), E>,
) -> Result<Vec<Outcome>, E> {
    let (mut outcomes, jobs) = plan(inputs, plans, sources);
    let mut announced = BTreeSet::new();
    for o in &outcomes {
        if let Some(ix) = o.plan {
            if announced.insert(ix) {
                announce(&plans.plans[ix]);
            }
        }
    }
    let total = outcomes.len();
    let mut finished = 0;
    for o in &outcomes {
        if !matches!(o.answer, Answer::Pending) {
            finished += 1;
            on_final(o, finished, total)?;
        }
    }
    let items = notation_items(&outcomes, plans);
    let state = NotationState::for_one_run();
    // OCSP and CRL, bounded and cached for the run, as `trustpin verify` checks them.
    let revocation = revocation_checker(sources);
    let mut notation_of: Vec<Option<NotationResult>> = vec![None; outcomes.len()];
    verify_notation(
        &items,
        plans,
        sources,
        &state,
        parallel,
        cache,
        &revocation,
        &mut |i, result| {
            let o = &mut outcomes[i];
            let ix = o.plan.unwrap_or_default();
            if plans.notary_v1(ix) {
                // Final once its repository is verified too.
                notation_of[i] = Some(result.clone());
                return Ok(());
            }
            finish(o, plans, None, Some(result.clone()));
            finished += 1;
            on_final(o, finished, total)
        },
    )?;
    let single = jobs.len() <= 1;
    run(
        &jobs,
        plans,
        sources,
        parallel,
        cache,
        &mut |j, _, result| {
            let job = &jobs[j];
            for &i in &job.members {
                let o = &mut outcomes[i];
                let (Some(image), Some(ix)) = (&o.image, o.plan) else {
                    continue;
                };
                let v1 = match &result {
                    Ok(f) => select_ref(&f.repo, image, &plans.plans[ix].opts),
                    Err(e) => Err(e.clone()),
                };
                let notation = notation_of[i].take();
                finish(o, plans, Some(v1), notation);
                finished += 1;
                on_final(o, finished, total)?;
            }
            exit_soon_discard(result, single);
            Ok(())
        },
    )?;
    Ok(outcomes)
}

/// A Notation answer for one reference.
type NotationResult = Result<NotationResolution, ResolveError>;

/// One distinct reference under a Notation statement: its plan, the reference, and the outcomes
/// that named it.
struct NotationItem {
    plan: usize,
    image: ImageRef,
    members: Vec<usize>,
}

/// The pending outcomes under a Notation statement, one item per distinct (plan, repository,
/// tag, digest).
fn notation_items(outcomes: &[Outcome], plans: &Plans) -> Vec<NotationItem> {
    let mut items: Vec<NotationItem> = Vec::new();
    let mut item_of: BTreeMap<(usize, String, Option<String>, Option<String>), usize> =
        BTreeMap::new();
    for (i, o) in outcomes.iter().enumerate() {
        let (Some(image), Some(ix), Answer::Pending) = (&o.image, o.plan, &o.answer) else {
            continue;
        };
        if plans.policy(ix).and_then(|p| p.notation.as_ref()).is_none() {
            continue;
        }
        let key = (
            ix,
            image.gun.to_string(),
            image.tag.clone(),
            image.digest.map(|d| d.to_string()),
        );
        let n = *item_of.entry(key).or_insert_with(|| {
            items.push(NotationItem {
                plan: ix,
                image: image.clone(),
                members: Vec::new(),
            });
            items.len() - 1
        });
        items[n].members.push(i);
    }
    items
}

#[allow(clippy::too_many_arguments)]
/// Verify every item, `parallel` at once; `done(outcome index, result)` runs on the calling
/// thread for each member of an item as soon as it is verified.
fn verify_notation<E>(
    items: &[NotationItem],
    plans: &Plans,
    sources: &dyn Sources,
    state: &NotationState,
    parallel: usize,
    cache: Option<&Cache>,
    revocation: &dyn RevocationChecker,
    done: &mut dyn FnMut(usize, &NotationResult) -> Result<(), E>,
) -> Result<(), E> {
    if items.is_empty() {
        return Ok(());
    }
    let next = AtomicUsize::new(0);
    let work = |tx: std::sync::mpsc::Sender<(usize, NotationResult)>| loop {
        let n = next.fetch_add(1, Ordering::Relaxed);
        let Some(item) = items.get(n) else { break };
        let Some(policy) = plans.policy(item.plan).and_then(|p| p.notation.as_ref()) else {
            break;
        };
        let opts = &plans.plans[item.plan].opts;
        let result = notation::verify_image(
            state,
            sources,
            item.plan,
            policy,
            &item.image,
            opts.at,
            opts.limits.deadline,
            cache,
            revocation,
        );
        if tx.send((n, result)).is_err() {
            break;
        }
    };
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::scope(|scope| {
        for _ in 0..parallel.clamp(1, 64).min(items.len()) {
            let tx = tx.clone();
            scope.spawn(|| work(tx));
        }
        drop(tx);
        for (n, result) in rx {
            for &i in &items[n].members {
                done(i, &result)?;
            }
        }
        Ok(())
    })
}

/// Settle outcome `o` from its generations' answers (`None`: not used by its statement).
fn finish(
    o: &mut Outcome,
    plans: &Plans,
    v1: Option<Result<Resolution, ResolveError>>,
    notation: Option<NotationResult>,
) {
    let Some(image) = &o.image else { return };
    let policy = o.plan.and_then(|ix| plans.policy(ix));
    let require = policy.map_or(crate::policy::Require::All, |p| p.require);
    o.two_generations = v1.is_some() && notation.is_some();
    let verified_notation = notation.as_ref().and_then(|n| n.as_ref().ok()).cloned();
    match notation::combine(image, require, v1, notation) {
        Ok((r, generations)) => {
            if generations.contains(&Generation::Notation) {
                o.notation = verified_notation;
            }
            o.generations = generations;
            o.answer = Answer::Trusted(r);
        }
        Err(e) => o.answer = Answer::Failed(e),
    }
}

/// Drop `value`, or, when the process is about to exit anyway (`exiting`), leave it to the
/// operating system: freeing a repository's thousands of small allocations one by one is
/// measurable work (about a tenth of a cold resolve of a 15,000-tag repository) for nothing.
fn exit_soon_discard<T>(value: T, exiting: bool) {
    if exiting {
        std::mem::forget(value);
    }
}
