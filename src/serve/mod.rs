//! `trustpin serve`: the Kubernetes mutating admission webhook. Each Pod (or workload holding a
//! pod template) the API server admits has its images verified as `trustpin resolve` verifies
//! them and patched to their signed digests, or is denied.
//!
//! Layers, one idea each: [`review`] (the AdmissionReview v1 wire format), [`images`] (where the
//! images of each kind are, the JSON Patch), [`verify`] (one image → one verdict, behind the
//! [`verify::Verifier`] trait: Notary v1, and [`notation`] beside it), [`cache`] (verified trust data in memory,
//! single-flight), [`decide`] (one request, its deadline, enforce or detect), [`server`] (HTTPS,
//! h1 and h2, endpoints, limits), [`idle`] (slow and idle connections), [`tls`] (the certificate and its reload), [`metrics`], [`log`].

pub mod cache;
pub mod decide;
pub mod idle;
pub mod images;
pub mod log;
pub mod metrics;
pub mod notation;
pub mod review;
pub mod server;
pub mod tls;
pub mod verify;
