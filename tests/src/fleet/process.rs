//! A child process of the orchestrator: this same binary in another role, its standard error
//! appended to a log in the work folder, killed with SIGKILL and started again after a pause.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use super::args::{Args, Role};
use super::files::log_path;

/// One role's process, across its restarts.
#[derive(Debug)]
pub struct Slot {
    /// `producer` or `consumer-<i>`.
    pub name: String,
    role: Role,
    id: usize,
    child: Option<Child>,
    restart_at: Option<Instant>,
    /// Times it was started.
    pub starts: u32,
}

/// What became of a slot's process since the last look.
#[derive(Debug)]
pub enum Exit {
    /// Still running, or waiting to be restarted.
    No,
    /// It ended by itself.
    Ended(ExitStatus),
}

impl Slot {
    /// A slot for `role` (`id` numbers consumers); nothing runs yet.
    pub fn new(role: Role, id: usize) -> Slot {
        let name = match role {
            Role::Consumer => format!("consumer-{id}"),
            _ => "producer".to_string(),
        };
        Slot {
            name,
            role,
            id,
            child: None,
            restart_at: None,
            starts: 0,
        }
    }

    /// Starts the process.
    pub fn start(&mut self, exe: &Path, args: &Args) -> std::io::Result<()> {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(log_path(args.work(), &self.name))?;
        let child = Command::new(exe)
            .args(args.child_argv(self.role, self.id))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()?;
        self.child = Some(child);
        self.restart_at = None;
        self.starts += 1;
        Ok(())
    }

    /// The running process's id.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// SIGKILLs the process and plans its restart after `pause`; false if none was running.
    pub fn kill(&mut self, pause: Duration) -> bool {
        let Some(mut child) = self.child.take() else {
            return false;
        };
        let _ = child.kill();
        let _ = child.wait();
        self.restart_at = Some(Instant::now() + pause);
        true
    }

    /// Restarts the process if its pause is over.
    pub fn restart_if_due(&mut self, exe: &Path, args: &Args) -> std::io::Result<()> {
        match self.restart_at {
            Some(at) if Instant::now() >= at => self.start(exe, args),
            _ => Ok(()),
        }
    }

    /// Whether the process ended by itself since the last look.
    pub fn poll(&mut self) -> Exit {
        let Some(child) = self.child.as_mut() else {
            return Exit::No;
        };
        match child.try_wait() {
            Ok(Some(status)) => {
                self.child = None;
                Exit::Ended(status)
            }
            _ => Exit::No,
        }
    }

    /// Plans a restart after `pause` (after the process ended by itself).
    pub fn restart_later(&mut self, pause: Duration) {
        self.restart_at = Some(Instant::now() + pause);
    }

    /// Waits up to `limit` for the process to end by itself, then kills it.
    pub fn wait_or_kill(&mut self, limit: Duration) {
        let deadline = Instant::now() + limit;
        while let Some(child) = self.child.as_mut() {
            if matches!(child.try_wait(), Ok(Some(_))) || Instant::now() >= deadline {
                break;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
        self.restart_at = None;
    }
}

/// This binary, to start children with.
pub fn current_exe() -> std::io::Result<PathBuf> {
    std::env::current_exe()
}
