//! minijinja set up the way dagrun renders: strict undefined names, a bounded `range`, the
//! `shell_quote` filter, fuel against runaway loops, size guards on the builtin filters that
//! build big values, a memory budget (`crate::budget`) against strings built without end by
//! operators, and a per-instance context that layers the matrix values over the shared
//! workflow context without copying it.

use minijinja::value::{Enumerator, Object, Rest, Value, ValueKind};
use minijinja::{Environment, Error, ErrorKind, State, Template, UndefinedBehavior, filters};
use std::collections::BTreeMap;
use std::sync::Arc;

/// Instructions one render may execute before it is stopped (runaway `for` loops).
const FUEL: u64 = 5_000_000;
/// Longest string one render may produce.
pub const MAX_RENDERED_BYTES: usize = 16 << 20;

/// Builds the environment. `max_items` bounds `range()` (the task limit).
pub fn environment(max_items: usize) -> Environment<'static> {
    let mut env = Environment::new();
    env.set_syntax(syntax());
    env.set_undefined_behavior(UndefinedBehavior::Strict);
    env.set_fuel(Some(FUEL));
    env.set_recursion_limit(64);
    env.add_filter("shell_quote", shell_quote);
    // `{{ flag }}` prints a boolean as the file wrote it, the same as in ids and `shell_quote`.
    env.set_formatter(move |out, state, v| match v.kind() {
        ValueKind::Bool => Ok(out.write_str(&plain_string(v))?),
        _ => {
            check_size(v, max_items)?;
            minijinja::escape_formatter(out, state, &settle(v.clone()))
        }
    });
    env.add_function("range", move |a: i64, b: Option<i64>, step: Option<i64>| range(a, b, step, max_items));
    guard_filters(&mut env, max_items);
    env
}

/// `{{ }}` and `{% %}` as usual, but no template comments: a workflow has YAML comments, and
/// `{#` is ordinary shell (`${#HOME}`, `${#list[@]}`). The comment delimiters are set to text
/// no field can hold (fields with a NUL byte are refused), which turns comments off.
fn syntax() -> minijinja::syntax::SyntaxConfig {
    minijinja::syntax::SyntaxConfig::builder()
        .block_delimiters("{%", "%}")
        .variable_delimiters("{{", "}}")
        .comment_delimiters("\0{#", "#}\0")
        .build()
        .expect("fixed, valid delimiters")
}

/// The builtin filters that walk a whole sequence or build a string from their input.
/// minijinja bounds fuel (instructions) and `'x' * n`, but not the work or memory of one
/// filter call: `(range(10) * 10**15) | list` asks for more memory than exists and aborts,
/// `| join` on it never ends, and `replace` can multiply a string's size. Each is wrapped so
/// that a sequence longer than the task limit or a string longer than `MAX_RENDERED_BYTES`,
/// going in or (for `replace`, `indent` and `join`, foreseeably) coming out, is an error.
fn guard_filters(env: &mut Environment<'static>, max_items: usize) {
    let builtins: [(&str, Value); 28] = [
        ("batch", Value::from_function(filters::batch)),
        ("chain", Value::from_function(filters::chain)),
        ("dictsort", Value::from_function(filters::dictsort)),
        ("first", Value::from_function(filters::first)),
        ("format", Value::from_function(filters::format)),
        ("groupby", Value::from_function(filters::groupby)),
        ("indent", Value::from_function(filters::indent)),
        ("items", Value::from_function(filters::items)),
        ("join", Value::from_function(filters::join)),
        ("last", Value::from_function(filters::last)),
        ("lines", Value::from_function(filters::lines)),
        ("list", Value::from_function(filters::list)),
        ("map", Value::from_function(filters::map)),
        ("max", Value::from_function(filters::max)),
        ("min", Value::from_function(filters::min)),
        ("pprint", Value::from_function(filters::pprint)),
        ("reject", Value::from_function(filters::reject)),
        ("rejectattr", Value::from_function(filters::rejectattr)),
        ("replace", Value::from_function(filters::replace)),
        ("reverse", Value::from_function(filters::reverse)),
        ("select", Value::from_function(filters::select)),
        ("selectattr", Value::from_function(filters::selectattr)),
        ("slice", Value::from_function(filters::slice)),
        ("sort", Value::from_function(filters::sort)),
        ("string", Value::from_function(filters::string)),
        ("sum", Value::from_function(filters::sum)),
        ("unique", Value::from_function(filters::unique)),
        // `zip` takes its sequences as varargs; the guard reads them all the same.
        ("zip", Value::from_function(filters::zip)),
    ];
    for (name, inner) in builtins {
        env.add_filter(name, move |state: &State, args: Rest<Value>| {
            let args: Vec<Value> = args.0.into_iter().map(settle).collect();
            for a in &args {
                check_size(a, max_items)?;
            }
            let foreseen = match name {
                "replace" => replaced_len(&args),
                "indent" => indented_len(&args),
                "join" => joined_len(&args),
                _ => 0,
            };
            if foreseen > MAX_RENDERED_BYTES {
                return Err(too_long(foreseen));
            }
            let out = inner.call(state, &args)?;
            check_size(&out, max_items)?;
            Ok(out)
        });
    }
}

/// The same value, except that a lazy sequence that knows it is empty becomes an empty list:
/// `range(0) * 10**12` has no items but walking it takes hours.
pub fn settle(v: Value) -> Value {
    if v.kind() == ValueKind::Iterable && v.len() == Some(0) { Value::from(Vec::<Value>::new()) } else { v }
}

/// Refuses a string longer than `MAX_RENDERED_BYTES` or a sequence or map with more items
/// than `max_items` (a lazy sequence knows its length without being walked).
fn check_size(v: &Value, max_items: usize) -> Result<(), Error> {
    if let Some(s) = v.as_str() {
        if s.len() > MAX_RENDERED_BYTES {
            return Err(too_long(s.len()));
        }
    } else if matches!(v.kind(), ValueKind::Seq | ValueKind::Iterable | ValueKind::Map) {
        if let Some(n) = v.len().filter(|&n| n > max_items) {
            return Err(Error::new(
                ErrorKind::InvalidOperation,
                format!("a sequence of {n} items is more than the limit of {max_items}"),
            ));
        }
    }
    Ok(())
}

fn too_long(n: usize) -> Error {
    Error::new(
        ErrorKind::InvalidOperation,
        format!("a string of {n} bytes is more than the limit of {MAX_RENDERED_BYTES}"),
    )
}

/// The length `s | replace(from, to)` will have.
fn replaced_len(args: &[Value]) -> usize {
    let (Some(s), Some(from), Some(to)) =
        (args.first().and_then(Value::as_str), args.get(1).and_then(Value::as_str), args.get(2))
    else {
        return 0;
    };
    let to = to.as_str().map_or_else(|| to.to_string().len(), str::len);
    // An empty `from` matches between every two characters.
    let hits = if from.is_empty() { s.chars().count() + 1 } else { s.matches(from).count() };
    s.len().saturating_add(hits.saturating_mul(to))
}

/// At most how long `s | indent(width)` will be (every line indented).
fn indented_len(args: &[Value]) -> usize {
    let (Some(s), Some(width)) = (args.first().and_then(Value::as_str), args.get(1)) else { return 0 };
    let width = width.as_usize().or_else(|| width.as_str().map(str::len)).unwrap_or(0);
    let lines = s.bytes().filter(|&b| b == b'\n').count() + 1;
    s.len().saturating_add(lines.saturating_mul(width))
}

/// How long `items | join(sep)` will be, as far as the items are strings.
fn joined_len(args: &[Value]) -> usize {
    let Some(items) = args.first().filter(|v| v.as_str().is_none()) else { return 0 };
    let Ok(iter) = items.try_iter() else { return 0 };
    let sep = args.get(1).and_then(Value::as_str).map_or(0, str::len);
    let mut total = 0usize;
    for item in iter {
        total = total.saturating_add(item.as_str().map_or(0, str::len)).saturating_add(sep);
        if total > MAX_RENDERED_BYTES {
            break;
        }
    }
    total
}

fn range(a: i64, b: Option<i64>, step: Option<i64>, max: usize) -> Result<Value, Error> {
    let (start, stop) = match b {
        Some(b) => (a, b),
        None => (0, a),
    };
    let step = step.unwrap_or(1);
    if step == 0 {
        return Err(Error::new(ErrorKind::InvalidOperation, "range() step must not be zero"));
    }
    let span = if step > 0 { stop.saturating_sub(start) } else { start.saturating_sub(stop) };
    let len = if span <= 0 { 0 } else { ((span - 1) / step.abs() + 1) as u64 };
    if len > max as u64 {
        return Err(Error::new(
            ErrorKind::InvalidOperation,
            format!("range() of {len} items is more than the limit of {max}"),
        ));
    }
    Ok(Value::from_iter((0..len as i64).map(|i| start + i * step)))
}

/// Quotes a value (or each item of a list, joined by spaces) for `sh`.
fn shell_quote(v: Value) -> Result<String, Error> {
    fn one(v: &Value) -> Result<String, Error> {
        let s = plain_string(v);
        shlex::try_quote(&s).map(|c| c.into_owned()).map_err(|_| {
            Error::new(ErrorKind::InvalidOperation, "cannot shell-quote a string containing NUL")
        })
    }
    if v.as_str().is_none() && v.try_iter().is_ok() && !v.is_undefined() && !v.is_none() {
        let parts: Result<Vec<String>, Error> = v.try_iter()?.map(|x| one(&x)).collect();
        return Ok(parts?.join(" "));
    }
    one(&v)
}

/// The plain string form of a value: strings unquoted, numbers and booleans as written.
pub fn plain_string(v: &Value) -> String {
    match v.as_str() {
        Some(s) => s.to_owned(),
        // minijinja prints Python's `True`; the file wrote `true`.
        None if v.kind() == ValueKind::Bool => v.is_true().to_string(),
        None => v.to_string(),
    }
}

/// Whether a string needs rendering at all (most strings in big files are literals).
pub fn is_template(s: &str) -> bool {
    let b = s.as_bytes();
    memchr::memchr_iter(b'{', b).any(|i| matches!(b.get(i + 1), Some(b'{' | b'%')))
}

/// Most operators, brackets and filters one `{{ }}` or `{% %}` block may hold. minijinja parses
/// and compiles an expression by recursion, one level per operator: `- - … - 1` with 30,000
/// minus signs, `not not … x` or `1 + 1 + …` would overflow the stack and abort dagrun, so such
/// a block is refused before minijinja sees it. Real expressions use a handful.
pub const MAX_OPERATORS: usize = 500;

/// Refuses a template with a block of more than `MAX_OPERATORS` operators (see there), naming
/// the block's line and column. Strings inside blocks are skipped; `{% raw %}` text is data.
fn check_expression_size(src: &str) -> Result<(), Error> {
    let b = src.as_bytes();
    let mut i = 0;
    while let Some(k) = memchr::memchr(b'{', &b[i..]) {
        let open = i + k;
        let close: &[u8] = match b.get(open + 1) {
            Some(b'{') => b"}}",
            Some(b'%') => b"%}",
            _ => {
                i = open + 1;
                continue;
            }
        };
        let start = open + 2;
        let (end, ops) = scan_block(b, start, close);
        if ops > MAX_OPERATORS {
            let line = 1 + memchr::memchr_iter(b'\n', &b[..open]).count();
            let col = 1 + open - b[..open].iter().rposition(|&c| c == b'\n').map_or(0, |p| p + 1);
            return Err(Error::new(
                ErrorKind::SyntaxError,
                format!(
                    "the expression at line {line}, column {col} has more than {MAX_OPERATORS} \
                     operators, brackets and filters, more than dagrun parses; split it up"
                ),
            ));
        }
        // `{% raw %}…{% endraw %}` is text, not template code.
        let body = &src[start..end.min(src.len())];
        i = end + close.len();
        if close == b"%}" && body.trim().trim_start_matches('-').trim_end_matches('-').trim() == "raw" {
            match src[i.min(src.len())..].find("endraw") {
                Some(p) => i += p,
                None => return Ok(()),
            }
        }
        if i >= b.len() {
            break;
        }
    }
    Ok(())
}

/// Counts the operators, filters and attribute dots of the block from `start` to `close` (or
/// the end), plus its deepest bracket nesting, skipping quoted strings. Returns where the block
/// ends and the count. Commas do not count: a long list literal is parsed by a loop.
fn scan_block(b: &[u8], start: usize, close: &[u8]) -> (usize, usize) {
    const WORDS: [&[u8]; 5] = [b"not", b"and", b"or", b"is", b"in"];
    let (mut ops, mut depth, mut deepest) = (0usize, 0usize, 0usize);
    let mut j = start;
    let mut quote: Option<u8> = None;
    let mut word: Option<usize> = None;
    while j < b.len() {
        let c = b[j];
        if let Some(q) = quote {
            match c {
                b'\\' => j += 1,
                _ if c == q => quote = None,
                _ => {}
            }
            j += 1;
            continue;
        }
        if c.is_ascii_alphanumeric() || c == b'_' {
            word.get_or_insert(j);
            j += 1;
            continue;
        }
        if let Some(w) = word.take() {
            ops += usize::from(WORDS.contains(&&b[w..j]));
        }
        if b[j..].starts_with(close) {
            return (j, ops + deepest);
        }
        match c {
            b'"' | b'\'' => quote = Some(c),
            b'(' | b'[' | b'{' => {
                depth += 1;
                deepest = deepest.max(depth);
            }
            b')' | b']' | b'}' => depth = depth.saturating_sub(1),
            b'+' | b'-' | b'*' | b'/' | b'%' | b'~' | b'|' | b'.' | b'<' | b'>' | b'=' | b'!' => ops += 1,
            _ => {}
        }
        j += 1;
    }
    if let Some(w) = word {
        ops += usize::from(WORDS.contains(&&b[w..j]));
    }
    (j, ops + deepest)
}

/// A syntax error in a template whose `{{ }}` looks like another tool's (Go templates as in
/// docker's `{{.Names}}`, awk's `{{t+=$1}}`, shell inside the braces) says how to write the
/// braces literally.
fn literal_hint(e: Error, src: &str) -> Error {
    if e.kind() != ErrorKind::SyntaxError || !looks_foreign(src) {
        return e;
    }
    let detail = e.detail().unwrap_or("cannot parse the template");
    Error::new(
        ErrorKind::SyntaxError,
        format!(
            "{detail} (if a `{{{{` here belongs to another tool, write it literally: \
             `{{% raw %}}{{{{.Names}}}}{{% endraw %}}`, or `{{{{ '{{{{' }}}}` for the braces alone)"
        ),
    )
}

fn looks_foreign(src: &str) -> bool {
    src.match_indices("{{").any(|(i, _)| {
        let rest = src[i + 2..].trim_start();
        let block = rest.split("}}").next().unwrap_or(rest);
        rest.starts_with('.') || block.contains('$') || block.contains("+=") || block.contains(';')
    })
}

/// Where in `src` (a byte offset) the problem `e` of its template is, as near as is known: the
/// span minijinja gives, the undefined name's first use, the `{{` that belongs to another
/// tool, or the start of the line minijinja names.
pub fn error_offset(e: &Error, src: &str) -> Option<usize> {
    if let Some(r) = e.range() {
        return Some(r.start.min(src.len()));
    }
    let msg = message(e);
    if let Some(name) = msg.strip_prefix("undefined name `").and_then(|r| r.split('`').next()) {
        if let Some(i) = find_name(src, name) {
            return Some(i);
        }
    }
    if e.kind() == ErrorKind::SyntaxError {
        if let Some((i, _)) = src.match_indices("{{").find(|(i, _)| looks_foreign(&src[*i..])) {
            return Some(i);
        }
    }
    let line = e.line()?;
    let mut offset = 0;
    for (n, l) in src.split_inclusive('\n').enumerate() {
        if n + 1 == line {
            return Some(offset + (l.len() - l.trim_start().len()));
        }
        offset += l.len();
    }
    None
}

/// The first use of `name` as a whole word inside a `{{ }}` or `{% %}` block of `src`.
fn find_name(src: &str, name: &str) -> Option<usize> {
    let word = |c: Option<char>| c.is_some_and(|c| c.is_alphanumeric() || c == '_');
    src.match_indices(name).map(|(i, _)| i).find(|&i| {
        let before = &src[..i];
        let open = before.rfind("{{").max(before.rfind("{%"));
        let close = before.rfind("}}").max(before.rfind("%}"));
        let inside = match (open, close) {
            (Some(o), Some(c)) => o > c,
            (Some(_), None) => true,
            _ => false,
        };
        inside && !word(before.chars().next_back()) && !word(src[i + name.len()..].chars().next())
    })
}

/// A string compiled once and rendered per instance.
pub enum Tpl<'env, 'src> {
    Literal(&'src str),
    Template(Template<'env, 'src>),
}

impl<'env, 'src> Tpl<'env, 'src> {
    pub fn new(env: &'env Environment<'static>, src: &'src str) -> Result<Self, Error> {
        if !is_template(src) {
            return Ok(Tpl::Literal(src));
        }
        check_expression_size(src)?;
        // Compiling folds constant expressions, which can build strings as rendering does.
        let _budget = crate::budget::Scope::enter();
        env.template_from_str(src).map(Tpl::Template).map_err(|e| literal_hint(e, src))
    }

    /// The template's text.
    pub fn source(&self) -> &str {
        match self {
            Tpl::Literal(s) => s,
            Tpl::Template(t) => t.source(),
        }
    }

    pub fn render(&self, ctx: &Value) -> Result<String, Error> {
        match self {
            Tpl::Literal(s) => Ok((*s).to_owned()),
            Tpl::Template(t) => {
                let out = {
                    let _budget = crate::budget::Scope::enter();
                    t.render(ctx).map_err(|e| explain(e, t, ctx))?
                };
                if out.len() > MAX_RENDERED_BYTES {
                    return Err(Error::new(
                        ErrorKind::InvalidOperation,
                        format!(
                            "renders to {} bytes, more than the limit of {MAX_RENDERED_BYTES}",
                            out.len()
                        ),
                    ));
                }
                Ok(out)
            }
        }
    }
}

/// Names the undefined variable, which minijinja's own message leaves out.
fn explain(e: Error, t: &Template, ctx: &Value) -> Error {
    if e.kind() != ErrorKind::UndefinedError {
        return e;
    }
    let mut missing: Vec<String> = t
        .undeclared_variables(false)
        .into_iter()
        .filter(|name| ctx.get_attr(name).map_or(true, |v| v.is_undefined()))
        .collect();
    missing.sort();
    match missing.first() {
        Some(name) => Error::new(ErrorKind::UndefinedError, format!("undefined name `{name}`")),
        None => Error::new(ErrorKind::UndefinedError, undefined_attr_message(&e)),
    }
}

fn undefined_attr_message(e: &Error) -> String {
    match e.detail() {
        Some(d) => format!("undefined value: {d}"),
        None => "undefined value (an attribute or item that does not exist)".to_owned(),
    }
}

/// Formats a minijinja error as one line, without minijinja's debug decoration.
pub fn message(e: &Error) -> String {
    if e.kind() == ErrorKind::UndefinedError {
        if let Some(d) = e.detail() {
            return d.to_owned();
        }
    }
    let mut s = match e.detail() {
        Some(d) => format!("{}: {d}", e.kind()),
        None => e.kind().to_string(),
    };
    if e.kind() == ErrorKind::OutOfFuel {
        s = "the template runs too long (a loop that does not end?)".to_owned();
    }
    s
}

/// The names every template sees: params, `env`, `workflow`.
pub fn base_context(params: &indexmap::IndexMap<String, serde_json::Value>, workflow_name: &str) -> Value {
    let mut map: BTreeMap<String, Value> = BTreeMap::new();
    for (k, v) in params {
        map.insert(k.clone(), Value::from_serialize(v));
    }
    let env: BTreeMap<String, String> = std::env::vars_os()
        .filter_map(|(k, v)| Some((k.into_string().ok()?, v.into_string().ok()?)))
        .collect();
    map.insert("env".into(), Value::from_serialize(&env));
    let mut wf = BTreeMap::new();
    wf.insert("name", Value::from(workflow_name));
    map.insert("workflow".into(), Value::from_iter(wf));
    Value::from_iter(map)
}

/// One instance's context: its matrix values and `task`, over the shared base.
#[derive(Debug)]
pub struct InstanceContext {
    pub base: Value,
    pub vars: Vec<(Arc<str>, Value)>,
    /// `task.name` and `task.id`; the `task` map is built only when a template asks for it
    /// (building it costs three allocations per instance, a million times for a big matrix).
    pub name: Value,
    pub id: Value,
}

impl InstanceContext {
    pub fn value(base: &Value, vars: Vec<(Arc<str>, Value)>, name: &str, id: &str) -> Value {
        let (name, id) = (Value::from(name), Value::from(id));
        Value::from_object(InstanceContext { base: base.clone(), vars, name, id })
    }
}

impl Object for InstanceContext {
    fn get_value(self: &Arc<Self>, key: &Value) -> Option<Value> {
        let k = key.as_str()?;
        if let Some((_, v)) = self.vars.iter().find(|(n, _)| &**n == k) {
            return Some(v.clone());
        }
        if k == "task" {
            return Some(Value::from_iter([("name", self.name.clone()), ("id", self.id.clone())]));
        }
        self.base.get_attr(k).ok().filter(|v| !v.is_undefined())
    }

    fn enumerate(self: &Arc<Self>) -> Enumerator {
        Enumerator::NonEnumerable
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ctx() -> Value {
        let mut p = indexmap::IndexMap::new();
        p.insert("day".to_owned(), serde_json::json!("2024-01-01"));
        base_context(&p, "wf")
    }

    #[test]
    fn renders_params_and_instance_values() {
        let env = environment(100);
        let c =
            InstanceContext::value(&ctx(), vec![("src".into(), Value::from("a b"))], "pull", "pull[src=a b]");
        let t =
            Tpl::new(&env, "{{ day }} {{ src | shell_quote }} {{ task.name }} {{ workflow.name }}").unwrap();
        assert_eq!(t.render(&c).unwrap(), "2024-01-01 'a b' pull wf");
    }

    #[test]
    fn undefined_names_are_errors_naming_the_name() {
        let env = environment(100);
        let t = Tpl::new(&env, "echo {{ nope }}").unwrap();
        let e = t.render(&ctx()).unwrap_err();
        assert_eq!(message(&e), "undefined name `nope`");
    }

    #[test]
    fn range_is_bounded_by_the_limit() {
        let env = environment(1000);
        let e = env.compile_expression("range(1001)").unwrap();
        assert!(e.eval(ctx()).is_err());
        let e = env.compile_expression("range(2, 10, 3)").unwrap();
        assert_eq!(e.eval(ctx()).unwrap().to_string(), "[2, 5, 8]");
    }

    #[test]
    fn runaway_templates_run_out_of_fuel() {
        let env = environment(100);
        let t = Tpl::new(&env, "{% for i in range(100) %}{% for j in range(100) %}{% for k in range(100) %}{{ i }}{% endfor %}{% endfor %}{% endfor %}").unwrap();
        assert!(t.render(&ctx()).is_err());
    }

    #[test]
    fn filters_refuse_huge_lazy_sequences_instead_of_aborting_or_hanging() {
        let env = environment(1000);
        for src in [
            "{{ (range(10) * 1000000000000000) | list | length }}",
            "{{ (range(10) * 100000000000) | join }}",
            "{{ ([1] * 100000000000000) | sum }}",
            "{{ (range(10) * 100000000000) | map('string') | join }}",
            "{{ range(10) * 100000000000 }}",
            "{{ ([1] * 100000000000000) | zip([1]) | list }}",
        ] {
            let e = Tpl::new(&env, src).unwrap().render(&ctx()).unwrap_err();
            assert!(message(&e).contains("more than the limit of 1000"), "{src}: {}", message(&e));
        }
        let ok = Tpl::new(&env, "{{ range(3) | join(',') }} {{ ([1, 2] * 2) | sum }}").unwrap();
        assert_eq!(ok.render(&ctx()).unwrap(), "0,1,2 6");
        let zipped = Tpl::new(&env, "{% for x, y in [1, 2] | zip(['a', 'b']) %}{{ x }}{{ y }} {% endfor %}");
        assert_eq!(zipped.unwrap().render(&ctx()).unwrap(), "1a 2b ");
        // Empty, but walking it would take hours.
        let empty = Tpl::new(&env, "{{ (range(0) * 1000000000000) | join }}|{{ range(0) * 1000000000000 }}");
        assert_eq!(empty.unwrap().render(&ctx()).unwrap(), "|[]");
    }

    #[test]
    fn filters_refuse_strings_they_would_make_too_long() {
        let env = environment(1000);
        for src in [
            "{{ ('x' * 10000000) | replace('x', 'xxxxxxxxxx') | length }}",
            "{{ ('x' * 10000000) | replace('', 'yy') | length }}",
            "{{ ('\n' * 10000000) | indent(100) | length }}",
            "{{ (['x' * 10000000] * 100) | join | length }}",
            "{{ 'x' * 20000000 }}",
        ] {
            let e = Tpl::new(&env, src).unwrap().render(&ctx()).unwrap_err();
            assert!(message(&e).contains("more than the limit of"), "{src}: {}", message(&e));
        }
        let ok = Tpl::new(&env, "{{ 'a-b' | replace('-', '--') }} {{ 'a\nb' | indent(2) }}").unwrap();
        assert_eq!(ok.render(&ctx()).unwrap(), "a--b a\n  b");
    }

    #[test]
    fn shell_quote_quotes_lists_item_by_item() {
        let env = environment(100);
        let t = Tpl::new(&env, "{{ ['a', \"b'c\"] | shell_quote }}").unwrap();
        assert_eq!(t.render(&ctx()).unwrap(), r#"a "b'c""#);
    }
}
