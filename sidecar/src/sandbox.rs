//! The sandbox for generated code (seed 001). Every run is a separate process tree under
//! bubblewrap: new user, PID, network, IPC and UTS namespaces (no network at all), an empty
//! root with read-only views of `/usr` and the pinned Python runtime, a private temporary
//! directory as `/work` (the only writable place that outlives the run's `/tmp`), no
//! environment but a fixed PATH, an unprivileged user, and rlimits on CPU time, address space,
//! processes and file size; the wall clock is enforced from outside by killing the tree.
//! Nothing falls back to running code unsandboxed: [`Sandbox::from_env`] fails with the reason.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// When the sidecar is root, each run gets its own unprivileged uid from this range: the
/// process limit counts per user, so a fork bomb in one run cannot starve the others.
const SANDBOX_UIDS: std::ops::Range<u32> = 1_000_000..2_000_000;
const DEFAULT_VENV: &str = "/var/cache/jitgen/sandbox-pytest-8.3.4";
/// Output kept per stream; the rest is dropped (a test printing forever must not fill memory).
const OUTPUT_LIMIT: usize = 64 * 1024;

#[derive(Clone, Copy, Debug)]
pub struct Limits {
    pub cpu_seconds: u64,
    pub wall: Duration,
    pub memory_bytes: u64,
    pub processes: u64,
    pub file_bytes: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            cpu_seconds: 20,
            wall: Duration::from_secs(30),
            memory_bytes: 1 << 30,
            processes: 64,
            file_bytes: 16 << 20,
        }
    }
}

/// How a run ended.
#[derive(Debug)]
pub struct Run {
    /// The exit code; `None` when a signal ended it (a limit, or the wall-clock kill).
    pub code: Option<i32>,
    pub timed_out: bool,
    pub stdout: String,
    pub stderr: String,
    pub elapsed: Duration,
}

impl Run {
    pub fn succeeded(&self) -> bool {
        self.code == Some(0) && !self.timed_out
    }
}

#[derive(Clone, Debug)]
pub struct Sandbox {
    bwrap: PathBuf,
    venv: PathBuf,
    pub limits: Limits,
}

impl Sandbox {
    /// The sandbox from `JITGEN_SANDBOX_VENV` (default /var/cache/jitgen/sandbox-pytest-8.3.4)
    /// and `bwrap` on PATH, after checking that a trivial sandboxed run works.
    pub async fn from_env() -> Result<Sandbox, String> {
        let venv = PathBuf::from(std::env::var("JITGEN_SANDBOX_VENV").unwrap_or_else(|_| DEFAULT_VENV.to_string()));
        if !venv.join("bin/python").exists() {
            return Err(format!(
                "no sandbox runtime at {} (scripts/setup.sh installs it; set JITGEN_SANDBOX_VENV)",
                venv.display()
            ));
        }
        let bwrap = which("bwrap").ok_or("bubblewrap (bwrap) is not installed: apt-get install bubblewrap")?;
        let sandbox = Sandbox { bwrap, venv, limits: Limits::default() };
        let probe = sandbox.run(&[], &["python", "-c", "print('ok')"], None).await?;
        if probe.stdout.trim() != "ok" {
            return Err(format!(
                "the sandbox does not start (exit {:?}): {}",
                probe.code,
                probe.stderr.chars().take(400).collect::<String>()
            ));
        }
        Ok(sandbox)
    }

    pub fn python(&self) -> PathBuf {
        self.venv.join("bin/python")
    }

    /// Runs `args` (`python` is the sandbox's interpreter) in a fresh sandbox whose `/work`
    /// holds `files`; `stdin` is written to the process.
    pub async fn run(&self, files: &[(&str, &str)], args: &[&str], stdin: Option<&[u8]>) -> Result<Run, String> {
        let dir = tempdir()?;
        let _remove = RemoveOnDrop(dir.clone());
        for (name, content) in files {
            if name.contains('/') || name.starts_with('.') {
                return Err(format!("refusing sandbox file name {name:?}"));
            }
            std::fs::write(dir.join(name), content).map_err(|e| format!("writing {name}: {e}"))?;
        }
        let mut command = self.command(&dir, args);
        command.stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped());
        let started = Instant::now();
        let mut child = command.spawn().map_err(|e| format!("cannot start bwrap: {e}"))?;
        if let Some(mut input) = child.stdin.take() {
            if let Some(bytes) = stdin {
                let _ = input.write_all(bytes).await;
            }
        }
        let mut out = child.stdout.take().ok_or("no stdout")?;
        let mut err = child.stderr.take().ok_or("no stderr")?;
        let read_out = tokio::spawn(async move { read_limited(&mut out).await });
        let read_err = tokio::spawn(async move { read_limited(&mut err).await });
        let (code, timed_out) = match tokio::time::timeout(self.limits.wall, child.wait()).await {
            Ok(status) => (status.map_err(|e| format!("waiting for the sandbox: {e}"))?.code(), false),
            Err(_) => {
                // bwrap is PID 1's parent; killing it ends the whole namespace.
                let _ = child.kill().await;
                (None, true)
            }
        };
        let stdout = read_out.await.unwrap_or_default();
        let stderr = read_err.await.unwrap_or_default();
        Ok(Run { code, timed_out, stdout, stderr, elapsed: started.elapsed() })
    }

    /// The bwrap command for `args` with `dir` as `/work`.
    pub(crate) fn command(&self, dir: &Path, args: &[&str]) -> tokio::process::Command {
        let mut c = tokio::process::Command::new(&self.bwrap);
        let venv = self.venv.to_string_lossy().to_string();
        c.args(["--unshare-all", "--die-with-parent", "--new-session", "--clearenv"])
            .args(["--ro-bind", "/usr", "/usr", "--symlink", "usr/lib", "/lib", "--symlink", "usr/lib64", "/lib64"])
            .args(["--symlink", "usr/bin", "/bin", "--ro-bind", &venv, &venv])
            .args(["--proc", "/proc", "--dev", "/dev", "--tmpfs", "/tmp"])
            .arg("--bind")
            .arg(dir)
            .args(["/work", "--chdir", "/work"])
            .args(["--setenv", "PATH", &format!("{venv}/bin:/usr/bin:/bin"), "--setenv", "HOME", "/work"])
            .args(["--setenv", "PYTHONDONTWRITEBYTECODE", "1", "--setenv", "PYTHONHASHSEED", "0", "--"]);
        for (i, a) in args.iter().enumerate() {
            if i == 0 && *a == "python" {
                c.arg(self.python());
            } else {
                c.arg(a);
            }
        }
        c.kill_on_drop(true).env_clear();
        let limits = self.limits;
        let root = unsafe { libc::geteuid() } == 0;
        let uid = fastrand::u32(SANDBOX_UIDS);
        if root {
            // Only the run's own user may write the run's directory.
            let _ = std::os::unix::fs::chown(dir, Some(uid), Some(uid));
        }
        // SAFETY: only async-signal-safe calls between fork and exec.
        unsafe {
            c.pre_exec(move || {
                let set = |resource, value: u64| {
                    let limit = libc::rlimit { rlim_cur: value, rlim_max: value };
                    if libc::setrlimit(resource, &limit) != 0 {
                        return Err(std::io::Error::last_os_error());
                    }
                    Ok(())
                };
                set(libc::RLIMIT_CPU, limits.cpu_seconds)?;
                set(libc::RLIMIT_AS, limits.memory_bytes)?;
                set(libc::RLIMIT_FSIZE, limits.file_bytes)?;
                set(libc::RLIMIT_CORE, 0)?;
                if root {
                    // RLIMIT_NPROC does not bind uid 0: drop to the run's user first.
                    if libc::setgroups(0, std::ptr::null()) != 0 || libc::setgid(uid) != 0 || libc::setuid(uid) != 0
                    {
                        return Err(std::io::Error::last_os_error());
                    }
                }
                set(libc::RLIMIT_NPROC, limits.processes)?;
                Ok(())
            });
        }
        c
    }
}

async fn read_limited<R: tokio::io::AsyncRead + Unpin>(r: &mut R) -> String {
    let mut kept = Vec::new();
    let mut buf = [0u8; 8192];
    loop {
        match r.read(&mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(n) => {
                let room = OUTPUT_LIMIT.saturating_sub(kept.len());
                kept.extend_from_slice(&buf[..n.min(room)]);
            }
        }
    }
    String::from_utf8_lossy(&kept).into_owned()
}

fn which(name: &str) -> Option<PathBuf> {
    std::env::var_os("PATH")
        .into_iter()
        .flat_map(|p| std::env::split_paths(&p).collect::<Vec<_>>())
        .chain([PathBuf::from("/usr/bin")])
        .map(|d| d.join(name))
        .find(|p| p.is_file())
}

/// A private directory for one run: 0700 under the system temp dir (chowned to the sandbox
/// user when the sidecar is root).
pub(crate) fn tempdir() -> Result<PathBuf, String> {
    use std::os::unix::fs::DirBuilderExt;
    let base = std::env::temp_dir();
    for _ in 0..16 {
        let dir = base.join(format!("jitgen-sandbox-{}-{:016x}", std::process::id(), fastrand::u64(..)));
        match std::fs::DirBuilder::new().mode(0o700).create(&dir) {
            Ok(()) => return Ok(dir),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(format!("creating the sandbox directory: {e}")),
        }
    }
    Err("could not create a sandbox directory".into())
}

pub(crate) struct RemoveOnDrop(pub PathBuf);

impl Drop for RemoveOnDrop {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}
