"""APScheduler wiring; each job a plain async function, testable without the scheduler."""
