//! A source that charges one repository's budget for everything fetched through it: the
//! wall-clock deadline is checked before every request, each file costs a role, and the bytes of
//! a wave are reserved from the byte budget before it is sent (so parallel fetches cannot overrun
//! it together), the unused rest given back after.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::fetch::{Fetch, Source, SourceError, Wave};
use crate::reference::Gun;
use crate::tuf::budget::{BudgetError, Meter, Resource};
use crate::tuf::role::RoleName;

/// Why the metered source stopped: kept so the caller reports it instead of the transport error
/// it had to return through the `Source` trait.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Tripped {
    Budget(BudgetError),
    Deadline(Duration),
}

pub(crate) struct Metered<'a> {
    inner: &'a dyn Source,
    meter: &'a Meter,
    started: Instant,
    deadline: Duration,
    requests: AtomicUsize,
    tripped: Mutex<Option<Tripped>>,
}

impl<'a> Metered<'a> {
    pub(crate) fn new(inner: &'a dyn Source, meter: &'a Meter, deadline: Duration) -> Self {
        Metered {
            inner,
            meter,
            started: Instant::now(),
            deadline,
            requests: AtomicUsize::new(0),
            tripped: Mutex::new(None),
        }
    }

    /// Requests made so far (the warm path makes one).
    pub(crate) fn requests(&self) -> usize {
        self.requests.load(Ordering::Relaxed)
    }

    /// Why the source refused to go on, if it did.
    pub(crate) fn tripped(&self) -> Option<Tripped> {
        self.tripped
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    /// The meter, for the chain's own charges.
    pub(crate) fn meter(&self) -> &Meter {
        self.meter
    }

    /// The time left before the deadline, or a recorded trip.
    pub(crate) fn time_left(&self) -> Result<Duration, Tripped> {
        match self.deadline.checked_sub(self.started.elapsed()) {
            Some(left) if !left.is_zero() => Ok(left),
            _ => Err(self.trip(Tripped::Deadline(self.deadline))),
        }
    }

    fn trip(&self, why: Tripped) -> Tripped {
        let mut t = self
            .tripped
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        t.get_or_insert(why).clone()
    }

    /// The error a refused request returns through the trait (the caller reports the trip).
    fn refused(&self, gun: &Gun, role: &RoleName, why: Tripped) -> SourceError {
        self.trip(why);
        SourceError::Timeout {
            location: self.inner.location(gun, role),
            after: self.started.elapsed(),
        }
    }

    /// Check the deadline, charge the roles, and reserve the bytes of a wave: each request gets
    /// its own bound or what is left of the budget, whichever is less (so a wave can never hold
    /// more than the budget, and a budget smaller than the top-level caps still works when the
    /// files are small).
    fn admit(&self, wanted: &[(RoleName, u64)]) -> Result<Vec<u64>, Tripped> {
        self.time_left()?;
        self.meter
            .charge(Resource::Roles, wanted.len() as u64)
            .map_err(|e| self.trip(Tripped::Budget(e)))?;
        // Fair shares of what is left, smallest bounds first (what a small file does not need
        // goes to the larger ones).
        let mut order: Vec<usize> = (0..wanted.len()).collect();
        order.sort_by_key(|&i| wanted[i].1);
        let mut left = self.meter.remaining(Resource::Bytes);
        let mut caps = vec![0u64; wanted.len()];
        for (k, &i) in order.iter().enumerate() {
            let share = left / (wanted.len() - k) as u64;
            caps[i] = wanted[i].1.min(share);
            left -= caps[i];
        }
        let total = caps.iter().fold(0u64, |a, c| a.saturating_add(*c));
        self.meter
            .charge(Resource::Bytes, total)
            .map_err(|e| self.trip(Tripped::Budget(e)))?;
        Ok(caps)
    }

    /// Give back what a wave reserved but did not use; a body cut short by the budget (not by
    /// its own bound) is the budget's refusal, and a request that timed out once the deadline
    /// had passed (cut short in flight) is the deadline's.
    fn settle(&self, wanted: &[(RoleName, u64)], caps: &[u64], results: &[Fetch]) {
        if results
            .iter()
            .any(|r| matches!(r, Err(SourceError::Timeout { .. })))
        {
            // Records the trip when the deadline has passed; a plain --timeout stays a timeout.
            let _ = self.time_left();
        }
        for (((_, max), cap), r) in wanted.iter().zip(caps).zip(results) {
            let used = match r {
                Ok(b) => b.len() as u64,
                Err(SourceError::TooLarge { .. }) if cap < max => {
                    self.trip(Tripped::Budget(BudgetError {
                        resource: Resource::Bytes,
                        limit: self.meter.limit(Resource::Bytes),
                        scope: "repository",
                    }));
                    0
                }
                Err(_) => 0,
            };
            self.meter.refund(Resource::Bytes, cap.saturating_sub(used));
        }
    }
}

impl Source for Metered<'_> {
    /// One wave: admitted by the budget and the deadline, each request capped by its share of
    /// the bytes, and all of them ended by the repository's deadline, in flight or not.
    fn fetch_many(&self, gun: &Gun, wanted: &[(RoleName, u64)], wave: Wave) -> Vec<Fetch> {
        let caps = match self.admit(wanted) {
            Ok(c) => c,
            Err(why) => {
                return wanted
                    .iter()
                    .map(|(role, _)| Err(self.refused(gun, role, why.clone())))
                    .collect()
            }
        };
        self.requests.fetch_add(wanted.len(), Ordering::Relaxed);
        let capped: Vec<(RoleName, u64)> = wanted
            .iter()
            .zip(&caps)
            .map(|((role, _), cap)| (role.clone(), *cap))
            .collect();
        let until = self.started + self.deadline;
        let wave = Wave {
            parallel: wave.parallel,
            until: Some(wave.until.map_or(until, |u| u.min(until))),
        };
        let results = self.inner.fetch_many(gun, &capped, wave);
        self.settle(wanted, &caps, &results);
        results
    }

    fn location(&self, gun: &Gun, role: &RoleName) -> String {
        self.inner.location(gun, role)
    }
}
