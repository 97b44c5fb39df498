//! What verifying one repository (and one batch) may cost, counted as it is spent. Hostile data
//! must be refused before it has cost more than a stated budget, for the whole run, not per step:
//! every signature verification, role, rotation step and fetched byte is charged here first.
//! Sans-IO: the wall-clock deadline is the fetch layer's; this only counts.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

/// The budget for one repository (or one batch). Defaults fit the largest real repositories
/// measured (Docker Official Images: a few hundred tags, tens of delegations) a hundred times.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Budget {
    /// Signature verifications (each ECDSA or RSA check is tens of microseconds).
    pub signatures: u64,
    /// Roles verified: top-level files, delegations, versioned roots.
    pub roles: u64,
    /// Root rotation steps walked (back to the pinned anchor, then forward).
    pub rotation_steps: u64,
    /// Bytes fetched and held.
    pub bytes: u64,
}

impl Default for Budget {
    fn default() -> Budget {
        Budget {
            signatures: 20_000,
            roles: 5_000,
            rotation_steps: 1_000,
            bytes: 256 * 1024 * 1024,
        }
    }
}

impl Budget {
    /// No bound at all (for callers that hold every file already and bound them themselves).
    pub const UNLIMITED: Budget = Budget {
        signatures: u64::MAX,
        roles: u64::MAX,
        rotation_steps: u64::MAX,
        bytes: u64::MAX,
    };
}

/// Which budget ran out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Resource {
    Signatures,
    Roles,
    RotationSteps,
    Bytes,
}

impl Resource {
    pub fn as_str(self) -> &'static str {
        match self {
            Resource::Signatures => "signature verifications",
            Resource::Roles => "roles",
            Resource::RotationSteps => "root rotation steps",
            Resource::Bytes => "bytes fetched",
        }
    }
}

/// A budget ran out: which, its value, and whether it was the batch's or the repository's.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the {scope} budget of {limit} {} is spent; refusing to go on", resource.as_str())]
pub struct BudgetError {
    pub resource: Resource,
    pub limit: u64,
    /// `repository` or `batch`.
    pub scope: &'static str,
}

/// Counts what is spent against a budget, and against the batch's when there is one. Shared by
/// reference across threads (a batch's meter is charged by every repository).
#[derive(Debug)]
pub struct Meter {
    budget: Budget,
    scope: &'static str,
    spent: [AtomicU64; 4],
    parent: Option<Arc<Meter>>,
}

impl Meter {
    /// A repository's meter (charging `parent`, the batch's, too).
    pub fn new(budget: Budget, parent: Option<Arc<Meter>>) -> Meter {
        Meter {
            budget,
            scope: "repository",
            spent: Default::default(),
            parent,
        }
    }

    /// A batch's meter.
    pub fn batch(budget: Budget) -> Meter {
        Meter {
            scope: "batch",
            ..Meter::new(budget, None)
        }
    }

    /// A meter that never runs out.
    pub fn unlimited() -> Meter {
        Meter::new(Budget::UNLIMITED, None)
    }

    /// The budget of `r`.
    pub fn limit(&self, r: Resource) -> u64 {
        match r {
            Resource::Signatures => self.budget.signatures,
            Resource::Roles => self.budget.roles,
            Resource::RotationSteps => self.budget.rotation_steps,
            Resource::Bytes => self.budget.bytes,
        }
    }

    /// Spend `n` of `r`, or refuse (nothing is spent then) when that would go over the budget.
    pub fn charge(&self, r: Resource, n: u64) -> Result<(), BudgetError> {
        let limit = self.limit(r);
        let cell = &self.spent[r as usize];
        let mut now = cell.load(Ordering::Relaxed);
        loop {
            let next = now.saturating_add(n);
            if next > limit {
                return Err(BudgetError {
                    resource: r,
                    limit,
                    scope: self.scope,
                });
            }
            match cell.compare_exchange_weak(now, next, Ordering::Relaxed, Ordering::Relaxed) {
                Ok(_) => break,
                Err(seen) => now = seen,
            }
        }
        if let Some(parent) = &self.parent {
            if let Err(e) = parent.charge(r, n) {
                cell.fetch_sub(n, Ordering::Relaxed);
                return Err(e);
            }
        }
        Ok(())
    }

    /// Give back `n` of `r` that was reserved but not used.
    pub fn refund(&self, r: Resource, n: u64) {
        let cell = &self.spent[r as usize];
        let _ = cell.fetch_update(Ordering::Relaxed, Ordering::Relaxed, |v| {
            Some(v.saturating_sub(n))
        });
        if let Some(parent) = &self.parent {
            parent.refund(r, n);
        }
    }

    /// What is left of `r` (in this meter and its batch's).
    pub fn remaining(&self, r: Resource) -> u64 {
        let own = self
            .limit(r)
            .saturating_sub(self.spent[r as usize].load(Ordering::Relaxed));
        match &self.parent {
            Some(p) => own.min(p.remaining(r)),
            None => own,
        }
    }

    /// What has been spent of `r` here.
    pub fn spent(&self, r: Resource) -> u64 {
        self.spent[r as usize].load(Ordering::Relaxed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_charge_over_the_budget_is_refused_and_costs_nothing() {
        let m = Meter::new(
            Budget {
                signatures: 10,
                ..Budget::default()
            },
            None,
        );
        m.charge(Resource::Signatures, 7).unwrap();
        let e = m.charge(Resource::Signatures, 4).unwrap_err();
        assert_eq!(
            (e.resource, e.limit, e.scope),
            (Resource::Signatures, 10, "repository")
        );
        assert_eq!(m.spent(Resource::Signatures), 7);
        m.charge(Resource::Signatures, 3).unwrap();
        assert_eq!(m.remaining(Resource::Signatures), 0);
        assert!(e.to_string().contains("10 signature verifications"), "{e}");
    }

    #[test]
    fn the_batch_budget_holds_across_repositories() {
        let batch = Arc::new(Meter::batch(Budget {
            roles: 5,
            ..Budget::default()
        }));
        let a = Meter::new(Budget::default(), Some(batch.clone()));
        let b = Meter::new(Budget::default(), Some(batch.clone()));
        a.charge(Resource::Roles, 3).unwrap();
        let e = b.charge(Resource::Roles, 3).unwrap_err();
        assert_eq!(e.scope, "batch");
        assert_eq!(
            b.spent(Resource::Roles),
            0,
            "a refused charge is given back"
        );
        b.charge(Resource::Roles, 2).unwrap();
        assert_eq!(a.remaining(Resource::Roles), 0);
    }
}
