//! Starting a `cmd` string without a shell, when the shell would add nothing to it.
//!
//! `sh -c 'gcc -c add.c'` costs a shell's start on top of gcc's. A string made only of plain
//! words (no quoting, expansion, redirection, globbing, assignment, comment or separator) whose
//! first word is not one of the shell's own commands means to the shell exactly "run this
//! program with these arguments", so dagrun runs the program itself. What the shell would have
//! done around it is done here too, so that nothing a task can observe differs:
//!
//! - the shell exports `PWD` (the inherited one when it names the working directory, else the
//!   physical path) and drops inherited variables whose names are not shell names;
//! - a program that cannot be started (missing, not executable, not a binary) is handed to the
//!   shell after all, which fails or runs it as it always would, in its own words (`sh: 1: x:
//!   not found`, exit 127);
//! - a program killed by a signal is reported as the shell reports it: the signal's description
//!   on stderr (none for SIGINT and SIGPIPE) and exit code 128 + the signal's number.

use std::path::{Path, PathBuf};

/// The words of `cmd` when it can be run without a shell, else `None`.
pub fn words(cmd: &str) -> Option<Vec<&str>> {
    // Every character the shell gives a meaning to (quotes, expansions, globs, redirections,
    // separators, grouping, comments, tilde, history-like `!`), and newlines; `=` is looked
    // at separately (an assignment only in the first word).
    const SPECIAL: &[u8] = b"\n\\'\"`$&|;<>()*?[]#~!{}^";
    if cmd.bytes().any(|b| SPECIAL.contains(&b)) {
        return None;
    }
    let words: Vec<&str> = cmd.split([' ', '\t']).filter(|w| !w.is_empty()).collect();
    let first = *words.first()?;
    if first.contains('=') {
        return None;
    }
    // `true` and `false` alone do as the programs of those names do; with arguments (`--help`)
    // they do not.
    if matches!(first, "true" | "false") && words.len() == 1 {
        return Some(words);
    }
    (!shell_own(first)).then_some(words)
}

/// Whether `word` is a reserved word or a built-in command of the shell (dash's, which are
/// POSIX's and a few more): run as a program it would do something else, or nothing.
fn shell_own(word: &str) -> bool {
    OWN.binary_search(&word).is_ok()
}

/// The shell's reserved words and built-in commands, sorted.
const OWN: &[&str] = &[
    ".", ":", "[", "alias", "bg", "break", "case", "cd", "chdir", "command", "continue", "do", "done",
    "echo", "elif", "else", "esac", "eval", "exec", "exit", "export", "false", "fc", "fg", "fi", "for",
    "getopts", "hash", "if", "in", "jobs", "kill", "local", "printf", "pwd", "read", "readonly", "return",
    "set", "shift", "test", "then", "times", "trap", "true", "type", "ulimit", "umask", "unalias", "unset",
    "until", "wait", "while",
];

/// Whether `name` is a name the shell keeps in the environment it passes on.
pub fn shell_name(name: &str) -> bool {
    let mut b = name.bytes();
    b.next().is_some_and(|c| c == b'_' || c.is_ascii_alphabetic())
        && b.all(|c| c == b'_' || c.is_ascii_alphanumeric())
}

/// The `PWD` the shell would export when started in `dir` with `inherited` as its `PWD`.
pub fn pwd(dir: &Path, inherited: Option<&str>) -> Option<PathBuf> {
    use std::os::unix::fs::MetadataExt;
    let here = std::fs::metadata(dir).ok()?;
    if let Some(p) = inherited.filter(|p| p.starts_with('/')) {
        if std::fs::metadata(p).is_ok_and(|m| m.dev() == here.dev() && m.ino() == here.ino()) {
            return Some(p.into());
        }
    }
    std::fs::canonicalize(dir).ok()
}

/// What the shell prints and the code it exits with when the program it ran was killed by
/// `signal` (`core`: it dumped core).
pub fn as_the_shell_reports(signal: i32, core: bool) -> (Option<String>, i32) {
    use nix::libc::{SIGINT, SIGPIPE};
    let code = 128 + signal;
    if signal == SIGINT || signal == SIGPIPE {
        return (None, code);
    }
    let name = match nix::sys::signal::Signal::try_from(signal) {
        Ok(s) => describe(s).to_owned(),
        Err(_) if (34..=64).contains(&signal) => format!("Real-time signal {}", signal - 34),
        Err(_) => format!("Unknown signal {signal}"),
    };
    let core = if core { " (core dumped)" } else { "" };
    (Some(format!("{name}{core}\n")), code)
}

/// The C library's description of a signal, as the shell prints it.
fn describe(s: nix::sys::signal::Signal) -> &'static str {
    use nix::sys::signal::Signal::*;
    match s {
        SIGHUP => "Hangup",
        SIGINT => "Interrupt",
        SIGQUIT => "Quit",
        SIGILL => "Illegal instruction",
        SIGTRAP => "Trace/breakpoint trap",
        SIGABRT => "Aborted",
        SIGBUS => "Bus error",
        SIGFPE => "Floating point exception",
        SIGKILL => "Killed",
        SIGUSR1 => "User defined signal 1",
        SIGSEGV => "Segmentation fault",
        SIGUSR2 => "User defined signal 2",
        SIGPIPE => "Broken pipe",
        SIGALRM => "Alarm clock",
        SIGTERM => "Terminated",
        SIGSTKFLT => "Stack fault",
        SIGCHLD => "Child exited",
        SIGCONT => "Continued",
        SIGSTOP => "Stopped (signal)",
        SIGTSTP => "Stopped",
        SIGTTIN => "Stopped (tty input)",
        SIGTTOU => "Stopped (tty output)",
        SIGURG => "Urgent I/O condition",
        SIGXCPU => "CPU time limit exceeded",
        SIGXFSZ => "File size limit exceeded",
        SIGVTALRM => "Virtual timer expired",
        SIGPROF => "Profiling timer expired",
        SIGWINCH => "Window changed",
        SIGIO => "I/O possible",
        SIGPWR => "Power failure",
        SIGSYS => "Bad system call",
        _ => "Unknown signal",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_shells_own_words_are_sorted_for_the_search() {
        assert!(OWN.windows(2).all(|w| w[0] < w[1]));
        assert!(shell_own("cd") && shell_own("while") && shell_own(".") && !shell_own("gcc"));
    }

    #[test]
    fn plain_words_need_no_shell() {
        assert_eq!(
            words("gcc -c add.c -o build/add.o"),
            Some(vec!["gcc", "-c", "add.c", "-o", "build/add.o"])
        );
        assert_eq!(words("  make\tCC=cc  "), Some(vec!["make", "CC=cc"]));
        assert_eq!(words("true"), Some(vec!["true"]));
        assert_eq!(words("./run ünïcödé"), Some(vec!["./run", "ünïcödé"]));
    }

    #[test]
    fn anything_the_shell_interprets_keeps_the_shell() {
        for cmd in [
            "",
            "  ",
            "echo hi",
            "cd /tmp",
            "true --help",
            "A=1 prog",
            "prog > out",
            "a | b",
            "a; b",
            "a && b",
            "prog $HOME",
            "prog 'x y'",
            "prog \"x\"",
            "prog *.c",
            "prog ~/x",
            "prog # c",
            "prog\nnext",
            "prog a\\ b",
            "if",
            "exit 3",
            "export X=1",
            "prog `x`",
            "prog {a,b}",
        ] {
            assert_eq!(words(cmd), None, "{cmd:?}");
        }
    }

    #[test]
    fn names_the_shell_passes_on() {
        assert!(shell_name("PATH") && shell_name("_x1") && shell_name("a"));
        assert!(!shell_name("a-b") && !shell_name("1a") && !shell_name(""));
    }

    #[test]
    fn a_signal_death_reads_as_the_shell_reports_it() {
        assert_eq!(as_the_shell_reports(9, false), (Some("Killed\n".into()), 137));
        assert_eq!(as_the_shell_reports(11, true), (Some("Segmentation fault (core dumped)\n".into()), 139));
        assert_eq!(as_the_shell_reports(2, false), (None, 130));
        assert_eq!(as_the_shell_reports(13, false), (None, 141));
    }
}
