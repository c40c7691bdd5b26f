//! Writing `sh` for the remote executors: an SSH task's wrapper and a Slurm job's script both
//! set the task's environment, enter its directory and run its command, from text that must
//! reach the shell exactly as written.

use super::Attempt;
use crate::task::Command;

/// `s` as one `sh` word. Only a NUL byte cannot be passed to a shell; validation refuses it in
/// every field, so meeting one here is an error, never an empty word in its place.
pub fn quote(s: &str) -> Result<String, String> {
    shlex::try_quote(s)
        .map(|q| q.into_owned())
        .map_err(|_| format!("`{}` contains a NUL byte", s.escape_debug()))
}

/// The lines that enter the attempt's directory and export its environment; when the directory
/// cannot be entered, the script says so and runs `on_bad_dir` (which must end it).
pub fn prelude(a: &Attempt, on_bad_dir: &str) -> Result<String, String> {
    let mut s = String::new();
    // The directory first: a `CDPATH` the task sets must not change where it starts.
    if let Some(d) = &a.workdir {
        let d = quote(&d.display().to_string())?;
        s.push_str(&format!(
            "cd -- {d} || {{ echo \"dagrun: cannot enter workdir \"{d} >&2; {on_bad_dir}; }}\n"
        ));
    }
    for (k, v) in &a.env {
        s.push_str(&format!("{k}={}; export {k}\n", quote(v)?));
    }
    Ok(s)
}

/// The attempt's command as one line of `sh` (a shell string through `sh -c`, an argv list
/// word by word), without a line end, for the caller to redirect or background.
pub fn command(a: &Attempt) -> Result<String, String> {
    match &a.cmd {
        Command::Shell(c) => Ok(format!("sh -c {}", quote(c)?)),
        Command::Argv(argv) => Ok(argv.iter().map(|w| quote(w)).collect::<Result<Vec<_>, _>>()?.join(" ")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_nul_byte_is_an_error_not_an_empty_word() {
        assert_eq!(quote("a b").unwrap(), "'a b'");
        assert!(quote("a\0b").unwrap_err().contains("NUL"));
    }
}
