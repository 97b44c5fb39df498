//! One classification of every failure, for every verifier: refused, bad input, or could not
//! check. Exit codes and the JSON `verification` label come from [`Failure`] and nowhere else, and
//! every error type says which it is (and a stable `kind` a script can test) through [`Classify`],
//! all mapped in this one file.

use crate::fetch::archive::ArchiveError;
use crate::fetch::credentials::CredentialError;
use crate::fetch::oci::OciError;
use crate::fetch::SourceError;
use crate::notation::policy::PolicyError as NotationPolicyError;
use crate::notation::reference::RegistryRefError as NotationReferenceError;
use crate::notation::verify::VerifyError as NotationVerifyError;
use crate::policy::PolicyError;
use crate::reference::ReferenceError;
use crate::resolve::{ResolveError, SetupError};
use crate::tuf::chain::{ChainError, DelegationError, FileError};
use crate::tuf::role::RoleNameError;
use crate::tuf::select::{SelectError, Unusable};
use crate::tuf::verify::VerifyError;

/// What a failure means for the answer. Ordered by exit code, so the worst of several is `max`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Failure {
    /// The data was checked and does not stand: forged, expired, unsigned, not pinned (exit 1).
    Refused,
    /// What the user gave cannot be used: a reference, a key file, a policy, a flag (exit 2).
    BadInput,
    /// Nothing could be checked: server unreachable, HTTP error, timeout (exit 3).
    Unavailable,
}

impl Failure {
    /// The process exit code: 1 refused, 2 bad input, 3 could not check (0 is success).
    pub fn exit_code(self) -> u8 {
        match self {
            Failure::Refused => 1,
            Failure::BadInput => 2,
            Failure::Unavailable => 3,
        }
    }

    /// The JSON `verification` label of an answer that failed this way.
    pub fn label(self) -> &'static str {
        match self {
            Failure::Refused => "refused",
            Failure::BadInput => "input-error",
            Failure::Unavailable => "unavailable",
        }
    }
}

/// An error that knows what it means: which [`Failure`] it is, a stable kebab-case `kind`
/// (`expired`, `not-signed`, `not-pinned`, ...) and the role it concerns, if any.
pub trait Classify: std::error::Error {
    fn failure(&self) -> Failure;
    fn kind(&self) -> &'static str;
    fn role(&self) -> Option<&str> {
        None
    }
}

impl Classify for VerifyError {
    fn failure(&self) -> Failure {
        Failure::Refused
    }
    fn kind(&self) -> &'static str {
        match self {
            VerifyError::Threshold { .. } => "signatures",
            VerifyError::Length { .. } => "length-mismatch",
            VerifyError::Hash { .. } => "hash-mismatch",
        }
    }
    fn role(&self) -> Option<&str> {
        match self {
            VerifyError::Threshold { role, .. }
            | VerifyError::Length { role, .. }
            | VerifyError::Hash { role, .. } => Some(role_of_label(role)),
        }
    }
}

/// `root v3` (a rotation step's label) is about `root`.
fn role_of_label(label: &str) -> &str {
    label.split(' ').next().unwrap_or(label)
}

impl Classify for FileError {
    fn failure(&self) -> Failure {
        match self {
            FileError::Budget(_) => Failure::Unavailable,
            _ => Failure::Refused,
        }
    }
    fn kind(&self) -> &'static str {
        match self {
            FileError::Metadata { .. } => "malformed",
            FileError::Verify(e) => e.kind(),
            FileError::Expired { .. } => "expired",
            FileError::Budget(_) => "budget",
        }
    }
    fn role(&self) -> Option<&str> {
        match self {
            FileError::Metadata { role, .. } | FileError::Expired { role, .. } => Some(role),
            FileError::Verify(e) => e.role(),
            FileError::Budget(_) => None,
        }
    }
}

impl Classify for ChainError {
    fn failure(&self) -> Failure {
        match self {
            ChainError::File(e) => e.failure(),
            _ => Failure::Refused,
        }
    }
    fn kind(&self) -> &'static str {
        match self {
            ChainError::File(e) => e.kind(),
            ChainError::MissingRole { .. } => "missing-role",
            ChainError::RootKeyNotCertificate { .. } => "root-key-not-certificate",
            ChainError::RootCertificateCa { .. } => "root-certificate-ca",
            ChainError::RootCertificateSha1 { .. } => "root-certificate-sha1",
            ChainError::NotPinned { .. } => "not-pinned",
            ChainError::CommonName { .. } => "certificate-name",
            // One stable kind for both (scripts tested it before the two messages were split).
            ChainError::CertificateExpired { .. } | ChainError::CertificateNotYetValid { .. } => {
                "certificate-time"
            }
            ChainError::SnapshotMissing { .. } => "snapshot-incomplete",
            ChainError::RotationVersion { .. } => "rotation-version",
            ChainError::RotationBroken { .. } => "rotation-broken",
            ChainError::RotationUnsigned { .. } => "rotation-unsigned",
            ChainError::RotationRefused { .. } => "rotation-refused",
            ChainError::Rollback { .. } => "rollback",
        }
    }
    fn role(&self) -> Option<&str> {
        match self {
            ChainError::File(e) => e.role(),
            ChainError::Rollback { role, .. } => Some(role),
            ChainError::MissingRole { role } => Some(role),
            ChainError::SnapshotMissing { .. } => Some("snapshot"),
            ChainError::RootKeyNotCertificate { .. }
            | ChainError::RootCertificateCa { .. }
            | ChainError::RootCertificateSha1 { .. }
            | ChainError::NotPinned { .. }
            | ChainError::CommonName { .. }
            | ChainError::CertificateExpired { .. }
            | ChainError::CertificateNotYetValid { .. }
            | ChainError::RotationVersion { .. }
            | ChainError::RotationBroken { .. }
            | ChainError::RotationUnsigned { .. }
            | ChainError::RotationRefused { .. } => Some("root"),
        }
    }
}

impl Classify for DelegationError {
    fn failure(&self) -> Failure {
        match self {
            DelegationError::File(e) => e.failure(),
            _ => Failure::Refused,
        }
    }
    fn kind(&self) -> &'static str {
        match self {
            DelegationError::DeclaredAgain { .. } => "declared-again",
            DelegationError::TooDeep => "too-deep",
            DelegationError::PathHashPrefixes => "path-hash-prefixes",
            DelegationError::InvalidName { .. } => "invalid-name",
            DelegationError::NotDirectChild { .. } => "not-direct-child",
            DelegationError::PathOutsideParent { .. } => "path-outside-parent",
            DelegationError::NotInSnapshot => "not-in-snapshot",
            DelegationError::NotFetched => "not-fetched",
            DelegationError::Missing { .. } => "missing",
            DelegationError::Oversized { .. } => "oversized",
            DelegationError::File(e) => e.kind(),
        }
    }
    fn role(&self) -> Option<&str> {
        match self {
            DelegationError::File(e) => e.role(),
            _ => None,
        }
    }
}

impl Classify for SelectError {
    fn failure(&self) -> Failure {
        Failure::Refused
    }
    fn kind(&self) -> &'static str {
        match self {
            SelectError::TagNotSigned { .. }
            | SelectError::DigestNotSigned { .. }
            | SelectError::RequiredDidNotSign { .. } => "not-signed",
            SelectError::DigestMismatch { .. } => "digest-mismatch",
            SelectError::RequiredUnusable { reason, .. } => match &**reason {
                Unusable::Delegation(e) => e.kind(),
                Unusable::Undeclared => "undeclared",
                Unusable::NoSuchDelegation => "no-such-delegation",
            },
            SelectError::Disagree { .. } => "disagreement",
            SelectError::NoSha256 { .. } => "no-sha256",
        }
    }
    fn role(&self) -> Option<&str> {
        match self {
            SelectError::RequiredUnusable { role, .. }
            | SelectError::RequiredDidNotSign { role, .. }
            | SelectError::NoSha256 { role, .. } => Some(role),
            _ => None,
        }
    }
}

impl Classify for SourceError {
    fn failure(&self) -> Failure {
        match self {
            // Set-up and names: what the user gave is unusable, nothing was asked.
            SourceError::BadName { .. }
            | SourceError::BadUrl { .. }
            | SourceError::BadCa { .. }
            | SourceError::Client { .. }
            | SourceError::BadClientCert { .. }
            | SourceError::BadProxy { .. } => Failure::BadInput,
            _ => Failure::Unavailable,
        }
    }
    fn kind(&self) -> &'static str {
        match self {
            SourceError::NotFound { .. } => "not-found",
            SourceError::TooLarge { .. } => "too-large",
            SourceError::Timeout { .. } => "timeout",
            SourceError::Status { .. } => "http-status",
            SourceError::Redirect { .. } => "redirect",
            SourceError::Connect { .. } => "connect",
            SourceError::Http { .. } => "http",
            SourceError::Io { .. } => "io",
            SourceError::BadName { .. } => "bad-name",
            SourceError::BadUrl { .. } => "bad-url",
            SourceError::BadCa { .. } => "bad-ca",
            SourceError::Client { .. } => "client",
            SourceError::Auth { .. } => "auth",
            SourceError::Challenge { .. } => "challenge",
            SourceError::Credentials { .. } => "credentials",
            SourceError::BadClientCert { .. } => "bad-client-cert",
            SourceError::BadProxy { .. } => "bad-proxy",
            SourceError::Health { .. } => "health",
        }
    }
}

impl Classify for OciError {
    fn failure(&self) -> Failure {
        match self {
            OciError::Http(e) => e.failure(),
            // The content was read and does not stand.
            OciError::DigestMismatch { .. }
            | OciError::SizeMismatch { .. }
            | OciError::Malformed { .. }
            | OciError::MediaTypeMismatch { .. }
            | OciError::UnsupportedMediaType { .. }
            | OciError::AmbiguousTag { .. }
            | OciError::TooManyReferrers { .. }
            | OciError::Escape { .. } => Failure::Refused,
            OciError::BadName { .. } | OciError::NotLayout { .. } => Failure::BadInput,
            // Nothing was proven false: it could not be had (in time, within the limits).
            OciError::NotFound { .. }
            | OciError::TooLarge { .. }
            | OciError::Endless { .. }
            | OciError::BadLink { .. }
            | OciError::Io { .. }
            | OciError::Deadline { .. } => Failure::Unavailable,
        }
    }
    fn kind(&self) -> &'static str {
        match self {
            OciError::Http(e) => e.kind(),
            OciError::NotFound { .. } => "not-found",
            OciError::TooLarge { .. } => "too-large",
            OciError::DigestMismatch { .. } => "digest-mismatch",
            OciError::SizeMismatch { .. } => "size-mismatch",
            OciError::Malformed { .. } => "malformed",
            OciError::MediaTypeMismatch { .. } => "media-type-mismatch",
            OciError::UnsupportedMediaType { .. } => "unsupported-media-type",
            OciError::AmbiguousTag { .. } => "ambiguous-tag",
            OciError::TooManyReferrers { .. } => "too-many-referrers",
            OciError::Endless { .. } => "endless",
            OciError::BadLink { .. } => "bad-link",
            OciError::Escape { .. } => "escape",
            OciError::Io { .. } => "io",
            OciError::NotLayout { .. } => "not-a-layout",
            OciError::BadName { .. } => "bad-name",
            OciError::Deadline { .. } => "deadline",
        }
    }
}

/// Errors that are always bad input, each with one kind.
macro_rules! bad_input {
    ($($error:ty => $kind:literal),* $(,)?) => {$(
        impl Classify for $error {
            fn failure(&self) -> Failure {
                Failure::BadInput
            }
            fn kind(&self) -> &'static str {
                $kind
            }
        }
    )*};
}

bad_input! {
    CredentialError => "credentials",
    ReferenceError => "bad-reference",
    NotationReferenceError => "bad-reference",
    RoleNameError => "bad-name",
    PolicyError => "bad-policy",
}

impl Classify for ArchiveError {
    fn failure(&self) -> Failure {
        match self {
            ArchiveError::Source(e) => e.failure(),
            ArchiveError::Io { .. } | ArchiveError::BadRole(_) => Failure::BadInput,
        }
    }
    fn kind(&self) -> &'static str {
        match self {
            ArchiveError::Source(e) => e.kind(),
            ArchiveError::Io { .. } => "io",
            ArchiveError::BadRole(_) => "bad-name",
        }
    }
}

impl Classify for SetupError {
    fn failure(&self) -> Failure {
        Failure::BadInput
    }
    fn kind(&self) -> &'static str {
        match self {
            SetupError::NotADirectory { .. } => "not-a-directory",
            SetupError::Source(e) => e.kind(),
            SetupError::Credentials(e) => e.kind(),
            SetupError::Registry(e) => e.kind(),
        }
    }
}

impl Classify for ResolveError {
    fn failure(&self) -> Failure {
        match self {
            ResolveError::NoTrustData { .. } | ResolveError::NoPolicy { .. } => Failure::Refused,
            // Anything a source says while fetching means the data could not be checked.
            ResolveError::Unavailable(_) => Failure::Unavailable,
            ResolveError::Chain(e) => e.failure(),
            ResolveError::Rollback { error, .. } => error.failure(),
            ResolveError::Select(e) => e.failure(),
            ResolveError::Reference(e) => e.failure(),
            ResolveError::Setup(e) => e.failure(),
            // Nothing was proven false: it could not be checked within what it may cost.
            ResolveError::Budget(_) | ResolveError::Deadline { .. } => Failure::Unavailable,
            ResolveError::Notation(e) => e.failure(),
            ResolveError::Generation { error, .. } => error.failure(),
            // Either could have verified: an outage of one means the reference could not be
            // checked, not that it was refused.
            ResolveError::NoneVerified {
                notary_v1,
                notation,
            } => notary_v1.failure().max(notation.failure()),
            ResolveError::GenerationsDisagree { .. } => Failure::Refused,
        }
    }
    fn kind(&self) -> &'static str {
        match self {
            ResolveError::NoTrustData { .. } => "no-trust-data",
            ResolveError::NoPolicy { .. } => "no-policy",
            ResolveError::Unavailable(e) => e.kind(),
            ResolveError::Chain(e) => e.kind(),
            ResolveError::Rollback { error, .. } => error.kind(),
            ResolveError::Select(e) => e.kind(),
            ResolveError::Reference(e) => e.kind(),
            ResolveError::Setup(e) => e.kind(),
            ResolveError::Budget(_) => "budget",
            ResolveError::Deadline { .. } => "deadline",
            ResolveError::Notation(e) => e.kind(),
            ResolveError::Generation { error, .. } => error.kind(),
            ResolveError::NoneVerified { .. } => "none-verified",
            ResolveError::GenerationsDisagree { .. } => "generations-disagree",
        }
    }
    fn role(&self) -> Option<&str> {
        match self {
            ResolveError::Chain(e) => e.role(),
            ResolveError::Rollback { error, .. } => error.role(),
            ResolveError::Select(e) => e.role(),
            ResolveError::Generation { error, .. } => error.role(),
            _ => None,
        }
    }
}

impl Classify for NotationPolicyError {
    fn failure(&self) -> Failure {
        Failure::BadInput
    }
    fn kind(&self) -> &'static str {
        "bad-policy"
    }
}

impl Classify for NotationVerifyError {
    fn failure(&self) -> Failure {
        match self {
            // A skip statement handed to the verifier is the caller's mistake, not a verdict.
            NotationVerifyError::Skip(_) => Failure::BadInput,
            _ => Failure::Refused,
        }
    }
    fn kind(&self) -> &'static str {
        use crate::notation::policy::Check;
        match self {
            NotationVerifyError::NoApplicablePolicy { .. } => "no-policy",
            NotationVerifyError::Skip(_) => "skip",
            NotationVerifyError::NoSignature(_) => "not-signed",
            NotationVerifyError::TooManySignatures { .. } => "too-many-signatures",
            NotationVerifyError::AllFailed { .. } => match self.check() {
                Some(Check::Integrity) => "integrity",
                Some(Check::Authenticity) => "authenticity",
                Some(Check::AuthenticTimestamp) => "authentic-timestamp",
                Some(Check::Expiry) => "expired",
                Some(Check::Revocation) => "revoked",
                None => "signatures",
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exit_codes_and_labels_come_from_one_place_and_order_by_severity() {
        assert_eq!(
            [Failure::Refused, Failure::BadInput, Failure::Unavailable].map(Failure::exit_code),
            [1, 2, 3]
        );
        assert_eq!(Failure::Refused.label(), "refused");
        assert_eq!(Failure::BadInput.label(), "input-error");
        assert_eq!(Failure::Unavailable.label(), "unavailable");
        assert_eq!(
            Failure::Refused.max(Failure::Unavailable),
            Failure::Unavailable
        );
    }

    #[test]
    fn a_required_delegation_that_expired_and_one_that_never_signed_differ_in_kind() {
        let expired = SelectError::RequiredUnusable {
            role: "targets/releases".into(),
            reason: Box::new(Unusable::Delegation(DelegationError::File(
                FileError::Expired {
                    role: "targets/releases".into(),
                    expires: "2020-01-01T00:00:00Z".into(),
                    at: "2026-01-01T00:00:00Z".into(),
                },
            ))),
        };
        let unsigned = SelectError::RequiredDidNotSign {
            role: "targets/releases".into(),
            what: "tag \"v1\"".into(),
        };
        assert_eq!(
            (expired.kind(), expired.role()),
            ("expired", Some("targets/releases"))
        );
        assert_eq!(
            (unsigned.kind(), unsigned.role()),
            ("not-signed", Some("targets/releases"))
        );
        assert_eq!(ResolveError::Select(expired).failure(), Failure::Refused);
    }

    #[test]
    fn a_rotation_steps_label_names_the_root_role() {
        let e = ChainError::RotationUnsigned {
            version: 3,
            source: VerifyError::Threshold {
                role: "root v3".into(),
                valid: 0,
                threshold: 1,
                detail: "no signature by key abc".into(),
            },
        };
        assert_eq!(e.role(), Some("root"));
        let v = VerifyError::Threshold {
            role: "root v3".into(),
            valid: 0,
            threshold: 1,
            detail: String::new(),
        };
        assert_eq!(v.role(), Some("root"));
    }
}
