//! xiang (湘): Monte Carlo projections of service value added, service employment and
//! logistics volume for Hunan city nodes, and the probability that plan targets are met,
//! one by one and jointly.
//!
//! The modules follow the data's path:
//! scenario files ([`scenario`], [`data`], [`targets`]) → validated [`scenario::Scenario`]
//! → [`engine`] (draws) → [`aggregate`] ([`results`]) → [`export`].
//! [`run`] ties them together for the command line and for library users.

pub mod accumulate;
pub mod aggregate;
pub mod backtest;
pub mod calibrate;
pub mod compare;
pub mod data;
pub mod dist;
pub mod engine;
pub mod error;
pub mod export;
pub mod hash;
pub mod indicator;
pub mod normal;
pub mod report;
pub mod result_files;
pub mod results;
pub mod run;
pub mod scenario;
pub mod shard;
pub mod sketch;
pub mod spatial;
pub mod spillovers;
pub mod stats;
pub mod suggest;
pub mod targets;
pub mod tiles;

pub use error::{Error, Result};
