//! `env_file`: dotenv files (`KEY=value` lines, `#` comments, quoted values, `export` allowed)
//! loaded into tasks' environments. The parsing is the `dotenvy` crate's; what is around it —
//! where the file is, whether it may be missing, how big it may be, which names are allowed —
//! is dagrun's, so that a bad file is a validation error naming the file and its line.

use serde::de::{self, Deserializer, MapAccess, SeqAccess, Visitor};
use serde::{Deserialize, Serialize};
use std::fmt;
use std::path::Path;
use std::sync::Arc;

/// The most bytes one env file may have.
pub const MAX_BYTES: u64 = 1 << 20;

/// One `env_file` entry: a path (a template for a task's entries), and whether a missing file
/// is an error.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct EnvFile {
    pub path: String,
    pub required: bool,
}

impl<'de> Deserialize<'de> for EnvFile {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<EnvFile, D::Error> {
        d.deserialize_any(EntryVisitor)
    }
}

struct EntryVisitor;

impl<'de> Visitor<'de> for EntryVisitor {
    type Value = EnvFile;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a path, or `{path: PATH, required: false}`")
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<EnvFile, E> {
        Ok(EnvFile { path: v.to_owned(), required: true })
    }
    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<EnvFile, A::Error> {
        #[derive(Deserialize)]
        #[serde(deny_unknown_fields)]
        struct Full {
            path: String,
            #[serde(default = "yes")]
            required: bool,
        }
        fn yes() -> bool {
            true
        }
        let f = Full::deserialize(de::value::MapAccessDeserializer::new(map))?;
        Ok(EnvFile { path: f.path, required: f.required })
    }
}

/// `env_file:` as written: one entry or a list of them.
pub fn one_or_many<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<EnvFile>, D::Error> {
    struct V;
    impl<'de> Visitor<'de> for V {
        type Value = Vec<EnvFile>;
        fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
            f.write_str("a path, `{path: PATH, required: false}`, or a list of them")
        }
        fn visit_str<E: de::Error>(self, v: &str) -> Result<Vec<EnvFile>, E> {
            EntryVisitor.visit_str(v).map(|e| vec![e])
        }
        fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Vec<EnvFile>, A::Error> {
            EntryVisitor.visit_map(map).map(|e| vec![e])
        }
        fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Vec<EnvFile>, A::Error> {
            let mut out = Vec::new();
            while let Some(e) = seq.next_element::<EnvFile>()? {
                out.push(e);
            }
            Ok(out)
        }
    }
    d.deserialize_any(V)
}

/// An env file's variables, in file order, shared by the tasks that load it.
pub type Vars = Arc<[(String, String)]>;

/// The variables of the env file at `path` (`shown` names it in messages), in file order;
/// `Ok(None)` for a missing file that is not required.
pub fn load(path: &Path, shown: &str, required: bool) -> Result<Option<Vars>, String> {
    let meta = match std::fs::metadata(path) {
        Ok(m) => m,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound && !required => return Ok(None),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(format!(
                "env file `{shown}` does not exist (`{{path: {shown}, required: false}}` allows that)"
            ));
        }
        Err(e) => return Err(format!("cannot read env file `{shown}`: {e}")),
    };
    if !meta.is_file() {
        return Err(format!("env file `{shown}` is not a regular file"));
    }
    if meta.len() > MAX_BYTES {
        return Err(format!("env file `{shown}` is larger than {} KiB", MAX_BYTES >> 10));
    }
    let bytes = read_at_most(path, MAX_BYTES).map_err(|e| format!("cannot read env file `{shown}`: {e}"))?;
    let text = std::str::from_utf8(&bytes).map_err(|e| {
        let line = bytes[..e.valid_up_to()].iter().filter(|&&b| b == b'\n').count() + 1;
        format!("env file `{shown}`, line {line}: not UTF-8 text")
    })?;
    let mut out = Vec::new();
    for item in dotenvy::from_read_iter(text.as_bytes()) {
        let (k, v) = item.map_err(|e| match e {
            dotenvy::Error::LineParse(line, _) => {
                let n = text.lines().position(|l| l.trim_end() == line.trim_end()).map_or(0, |n| n + 1);
                let line = crate::diag::printable(&line);
                format!("env file `{shown}`, line {n}: cannot parse `{line}` (expected `NAME=value`)")
            }
            other => format!("env file `{shown}`: {other}"),
        })?;
        if !super::expand::is_identifier(&k) {
            let k = crate::diag::printable(&k);
            return Err(format!("env file `{shown}`: `{k}` is not a valid environment variable name"));
        }
        if v.contains('\0') {
            return Err(format!("env file `{shown}`: the value of `{k}` contains a NUL byte"));
        }
        out.push((k, v));
    }
    Ok(Some(out.into()))
}

fn read_at_most(path: &Path, limit: u64) -> std::io::Result<Vec<u8>> {
    use std::io::Read;
    let mut bytes = Vec::new();
    std::fs::File::open(path)?.take(limit).read_to_end(&mut bytes)?;
    Ok(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(text: &[u8]) -> (tempfile::TempDir, std::path::PathBuf) {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join(".env");
        std::fs::write(&p, text).unwrap();
        (d, p)
    }

    #[test]
    fn reads_names_values_comments_and_quotes() {
        let (_d, p) = file(b"# a comment\nA=1\nexport B='two words'\nC=\"line\\nbreak\"\n\nD=\n");
        let vars = load(&p, ".env", true).unwrap().unwrap();
        let got: Vec<(&str, &str)> = vars.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        assert_eq!(got, [("A", "1"), ("B", "two words"), ("C", "line\nbreak"), ("D", "")]);
    }

    #[test]
    fn a_bad_line_is_named_with_its_number() {
        let (_d, p) = file(b"A=1\n# fine\nnot a pair\n");
        let err = load(&p, ".env", true).unwrap_err();
        assert!(err.contains("line 3") && err.contains("not a pair"), "{err}");
    }

    #[test]
    fn missing_files_fail_unless_not_required() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("none.env");
        assert!(load(&p, "none.env", true).unwrap_err().contains("required: false"));
        assert_eq!(load(&p, "none.env", false).unwrap(), None);
        assert!(load(d.path(), "dir", true).unwrap_err().contains("not a regular file"));
    }

    #[test]
    fn bytes_that_are_not_text_are_refused() {
        let (_d, p) = file(b"A=1\nB=\xff\n");
        assert!(load(&p, ".env", true).unwrap_err().contains("line 2: not UTF-8"));
    }
}
