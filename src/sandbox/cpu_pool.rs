//! The process's pool for CPU-bound work on the request path (today: PS256 signatures of SETs).
//! One thread per core, started on first use and shared by every sandbox in the process,
//! pulling jobs from one queue; at most [`QUEUED_PER_CORE`] jobs per core wait or run at once,
//! so a burst of triggers waits for room here instead of growing memory.
//!
//! Why not `tokio::task::spawn_blocking` under a semaphore (what this replaced): there a slot
//! was freed, and the next job handed over, only once the runtime scheduled the finished job's
//! task and then the waiting one, so under a stream of triggers the signing threads waited on
//! runtime threads busy with HTTP and the cores sat idle about a fifth of the time (`perf`
//! samples during `bench --phases ingest`). Here a thread that finishes a job takes the next
//! from the queue itself.

use std::panic::AssertUnwindSafe;
use std::sync::mpsc;
use std::sync::{Arc, Mutex, OnceLock};

use tokio::sync::{OwnedSemaphorePermit, Semaphore, oneshot};

/// Jobs queued or running at once, per core.
const QUEUED_PER_CORE: usize = 64;

type Job = Box<dyn FnOnce() + Send + 'static>;

struct Pool {
    jobs: Mutex<mpsc::Sender<Job>>,
    room: Arc<Semaphore>,
}

static POOL: OnceLock<Pool> = OnceLock::new();

/// Why a job did not give its result.
#[derive(Debug, thiserror::Error)]
pub enum PoolError {
    #[error("the CPU pool cannot start a thread: {0}")]
    Start(String),
    #[error("the job panicked or the pool is gone")]
    Lost,
}

fn pool() -> Result<&'static Pool, PoolError> {
    if let Some(p) = POOL.get() {
        return Ok(p);
    }
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let (tx, rx) = mpsc::channel::<Job>();
    let rx = Arc::new(Mutex::new(rx));
    for n in 0..cores {
        let rx = Arc::clone(&rx);
        std::thread::Builder::new()
            .name(format!("obevents-cpu-{n}"))
            .spawn(move || work(&rx))
            .map_err(|e| PoolError::Start(e.to_string()))?;
    }
    let fresh = Pool {
        jobs: Mutex::new(tx),
        room: Arc::new(Semaphore::new(cores * QUEUED_PER_CORE)),
    };
    // Two first callers may race: the loser's threads see their queue closed and end.
    Ok(POOL.get_or_init(|| fresh))
}

fn work(rx: &Mutex<mpsc::Receiver<Job>>) {
    loop {
        // Held only while taking one job: the others wait for the lock, not for a job's run.
        let job = match rx.lock() {
            Ok(r) => r.recv(),
            Err(_) => return,
        };
        match job {
            // A panicking job drops its reply, which its caller reads as `Lost`; the thread
            // lives on.
            Ok(job) => drop(std::panic::catch_unwind(AssertUnwindSafe(job))),
            Err(_) => return,
        }
    }
}

/// Runs `f` on the pool and returns its result; waits for room first when the pool is full.
pub async fn run<T, F>(f: F) -> Result<T, PoolError>
where
    T: Send + 'static,
    F: FnOnce() -> T + Send + 'static,
{
    let pool = pool()?;
    let permit: OwnedSemaphorePermit = Arc::clone(&pool.room)
        .acquire_owned()
        .await
        .map_err(|_| PoolError::Lost)?;
    let (reply, answer) = oneshot::channel();
    let job: Job = Box::new(move || {
        let _ = reply.send(f());
        // Room is given back on the pool's thread as the job ends, not when its caller runs.
        drop(permit);
    });
    pool.jobs
        .lock()
        .map_err(|_| PoolError::Lost)?
        .send(job)
        .map_err(|_| PoolError::Lost)?;
    answer.await.map_err(|_| PoolError::Lost)
}

#[cfg(test)]
mod tests {
    use super::{PoolError, run};

    #[tokio::test]
    async fn runs_jobs_and_survives_a_panicking_one() {
        assert_eq!(run(|| 6 * 7).await.unwrap(), 42);
        let lost = run(|| -> u32 { panic!("a job's bug") }).await;
        assert!(matches!(lost, Err(PoolError::Lost)));
        let many: Vec<_> = (0..500u64).map(|n| run(move || n * 2)).collect();
        let got: Vec<u64> = futures::future::join_all(many)
            .await
            .into_iter()
            .map(|r| r.unwrap())
            .collect();
        assert_eq!(got, (0..500u64).map(|n| n * 2).collect::<Vec<_>>());
    }
}
