//! Password hashing on a fixed pool of threads, each owning one argon2 work memory (19 MiB)
//! that it reuses for every hash. Hashing on Tokio's blocking pool allocated that memory per
//! call on whichever of up to 512 threads ran it, and glibc kept it in per-thread arenas: 130
//! logins grew a node from 24 MB to 1 GB, never returned. Here the memory is bounded by
//! [`WORKERS`] × 19 MiB, and a flood waits in a bounded queue, then is refused with 503.

use ferrocast_auth::password::{self, Memory};
use std::sync::mpsc;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;
use tokio::sync::{oneshot, Semaphore};

/// Hashing threads. Each holds 19 MiB; two keep up with far more logins than the per-address
/// limits let through (one hash takes tens of milliseconds).
pub const WORKERS: usize = 2;
/// Hashes waiting or running at most; more wait for a place, up to [`QUEUE_WAIT`].
pub const QUEUE: usize = 64;
/// Longest wait for a place in the queue before answering 503.
pub const QUEUE_WAIT: Duration = Duration::from_secs(10);

/// Why a hash was not computed.
#[derive(Debug, thiserror::Error)]
pub enum HashError {
    /// Every place in the queue stayed taken for [`QUEUE_WAIT`].
    #[error("the server is busy checking passwords")]
    Busy,
    /// The pool is gone (the node is stopping).
    #[error("{0}")]
    Stopped(&'static str),
}

type Job = Box<dyn FnOnce(&mut Memory) + Send>;

/// The pool; its threads end when it is dropped.
pub struct HashPool {
    jobs: mpsc::Sender<Job>,
    places: Semaphore,
}

impl HashPool {
    /// Starts [`WORKERS`] threads. Their memory is allocated at their first hash.
    pub fn start() -> std::io::Result<Self> {
        let (tx, rx) = mpsc::channel::<Job>();
        let rx = Arc::new(Mutex::new(rx));
        for i in 0..WORKERS {
            let rx = rx.clone();
            std::thread::Builder::new()
                .name(format!("argon2-{i}"))
                .spawn(move || {
                    let mut memory: Option<Memory> = None;
                    loop {
                        let job = {
                            let rx = rx.lock().unwrap_or_else(|p| p.into_inner());
                            rx.recv()
                        };
                        match job {
                            Ok(job) => job(memory.get_or_insert_with(Memory::new)),
                            Err(_) => return,
                        }
                    }
                })?;
        }
        Ok(Self {
            jobs: tx,
            places: Semaphore::new(QUEUE),
        })
    }

    async fn run<T: Send + 'static>(
        &self,
        f: impl FnOnce(&mut Memory) -> T + Send + 'static,
    ) -> Result<T, HashError> {
        let _place = match tokio::time::timeout(QUEUE_WAIT, self.places.acquire()).await {
            Ok(Ok(p)) => p,
            _ => return Err(HashError::Busy),
        };
        let (tx, rx) = oneshot::channel();
        let job: Job = Box::new(move |m| {
            let _ = tx.send(f(m));
        });
        self.jobs
            .send(job)
            .map_err(|_| HashError::Stopped("the hashing threads have stopped"))?;
        rx.await
            .map_err(|_| HashError::Stopped("a hashing thread dropped its job"))
    }

    /// Hashes a password into a PHC string.
    pub async fn hash(&self, pw: String) -> Result<String, HashError> {
        self.run(move |m| password::hash_in(m, &pw)).await
    }

    /// Verifies a password; with no stored hash, spends the same time on a dummy and fails
    /// (the answer does not tell whether the account exists).
    pub async fn verify(&self, pw: String, stored: Option<String>) -> Result<bool, HashError> {
        static DUMMY: OnceLock<String> = OnceLock::new();
        self.run(move |m| match stored {
            Some(h) => password::verify_in(m, &pw, &h),
            None => {
                let dummy = DUMMY
                    .get_or_init(|| password::hash_in(m, "ferrocast-dummy-password-for-timing"));
                let _ = password::verify_in(m, &pw, dummy);
                false
            }
        })
        .await
    }
}
