//! What a name may be: tasks, workflows, matrix keys, environment variables.

pub fn is_identifier(s: &str) -> bool {
    let mut chars = s.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// Task names become parts of ids and file names: keep them to a safe alphabet.
pub fn check_task_name(name: &str) -> Result<(), String> {
    check_name(name, "task")
}

/// A task or workflow name (`what`): letters, digits, `_`, `-`, `.`, not `..`, at most 200 bytes.
pub fn check_name(name: &str, what: &str) -> Result<(), String> {
    let ok = !name.is_empty()
        && name.len() <= 200
        && name.chars().next().is_some_and(|c| c.is_ascii_alphanumeric() || c == '_')
        && name.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'))
        && !name.contains("..");
    if ok {
        Ok(())
    } else {
        Err(format!(
            "`{}` is not a valid {what} name: use letters, digits, `_`, `-` and `.` (not `..`), starting with a letter, digit or `_`",
            name.escape_debug()
        ))
    }
}

pub(super) fn check_env_name(name: &str) -> Result<(), String> {
    if is_identifier(name) {
        Ok(())
    } else {
        Err(format!(
            "`{}` is not a valid environment variable name (letters, digits and `_`, not starting with a digit)",
            name.escape_debug()
        ))
    }
}
