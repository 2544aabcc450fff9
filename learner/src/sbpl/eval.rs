//! The evaluator: the Scheme subset real profiles use, plus the SBPL vocabulary (operations,
//! filters, modifiers, `allow`/`deny`, `param`, `import`, ...). Evaluating the profile's forms
//! produces the flat list of rules (in source order) that [`super::policy`] indexes.
//!
//! Like libsandbox's TinyScheme, a profile is a program: `define`, `lambda`, `let`, loops through
//! named `let`, `macro` (non-hygienic, receives the whole form), `set!` (profiles rebind `param`)
//! all work. Anything the evaluator does not know is an error with a position, never skipped.
//! Evaluation is bounded (nesting depth and number of steps) so hostile input cannot hang it.

use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::Rc;

use indexmap::IndexMap;

use crate::event::Action;
use crate::target::Scope;

use super::error::Span;
use super::filter::{Filter, Matcher, NetProto, Tri};
use super::ops::{OpId, Operations};
use super::pattern::Pattern;
use super::reader::{Sexp, SexpKind};
use super::Modifiers;

/// Deepest nesting of evaluation (calls inside calls) on the caller's stack; profiles that go
/// deeper are evaluated again on a thread with [`EVAL_STACK_BYTES`] of stack (see
/// [`super::compile`]), up to ...
pub(crate) const MAX_EVAL_DEPTH_SMALL_STACK: usize = 160;
/// ... this depth.
pub(crate) const MAX_EVAL_DEPTH_BIG_STACK: usize = 10_000;
/// Stack for the evaluation thread: TinyScheme loops are recursion (named `let`), so deep.
pub(crate) const EVAL_STACK_BYTES: usize = 256 << 20;
/// Most evaluation steps one compilation may take (`default.sb` takes about 30 thousand).
const MAX_STEPS: u64 = 5_000_000;
/// Deepest filter tree (`require-*` inside each other) a profile may build.
const MAX_FILTER_DEPTH: usize = 64;

/// A Scheme value.
#[derive(Clone)]
pub(crate) enum Value {
    Unspecified,
    Nil,
    Bool(bool),
    Int(i64),
    Char(char),
    Str(Rc<str>),
    Sym(Rc<str>),
    Pair(Rc<(Value, Value)>),
    Lambda(Rc<Lambda>),
    Macro(Rc<Lambda>),
    Builtin(Rc<str>),
    Op(OpId),
    Filter(Rc<Filter>),
    Modifier(Rc<Modifier>),
    /// Something an unresolved `(import ...)` would have defined: its value is unknown.
    Opaque(Rc<str>),
}

pub(crate) struct Lambda {
    params: Vec<Rc<str>>,
    rest: Option<Rc<str>>,
    body: Rc<[Sexp]>,
    env: Env,
}

/// `(with NAME [ARG])`.
#[derive(Debug, Clone)]
pub(crate) struct Modifier {
    name: String,
    arg: Option<String>,
}

type Env = Rc<RefCell<Frame>>;

pub(crate) struct Frame {
    vars: HashMap<Rc<str>, Value>,
    parent: Option<Env>,
}

impl Value {
    fn truthy(&self) -> bool {
        !matches!(self, Value::Bool(false))
    }

    fn type_name(&self) -> &'static str {
        match self {
            Value::Unspecified => "no value",
            Value::Nil => "empty list",
            Value::Bool(_) => "boolean",
            Value::Int(_) => "number",
            Value::Char(_) => "character",
            Value::Str(_) => "string",
            Value::Sym(_) => "symbol",
            Value::Pair(_) => "list",
            Value::Lambda(_) | Value::Builtin(_) => "procedure",
            Value::Macro(_) => "macro",
            Value::Op(_) => "operation",
            Value::Filter(_) => "filter",
            Value::Modifier(_) => "modifier",
            Value::Opaque(_) => "value of an unresolved import",
        }
    }

    fn list(items: Vec<Value>) -> Value {
        let mut out = Value::Nil;
        for item in items.into_iter().rev() {
            out = Value::Pair(Rc::new((item, out)));
        }
        out
    }

    /// The elements of a proper list.
    fn to_vec(&self) -> Option<Vec<Value>> {
        let mut out = Vec::new();
        let mut cur = self;
        loop {
            match cur {
                Value::Nil => return Some(out),
                Value::Pair(p) => {
                    out.push(p.0.clone());
                    cur = &p.1;
                }
                _ => return None,
            }
        }
    }
}

/// Display a value as Scheme would print it (errors, `error`, rule text of computed forms).
fn show(v: &Value, ops: &Operations) -> String {
    match v {
        Value::Unspecified => "#<unspecified>".into(),
        Value::Nil => "()".into(),
        Value::Bool(b) => if *b { "#t" } else { "#f" }.into(),
        Value::Int(n) => n.to_string(),
        Value::Char(c) => format!("#\\{c}"),
        Value::Str(s) => super::render::quote(s),
        Value::Sym(s) => s.to_string(),
        Value::Pair(_) => match v.to_vec() {
            Some(items) => format!("({})", items.iter().map(|i| show(i, ops)).collect::<Vec<_>>().join(" ")),
            None => "(...)".into(),
        },
        Value::Lambda(_) => "#<procedure>".into(),
        Value::Builtin(n) => format!("#<procedure {n}>"),
        Value::Macro(_) => "#<macro>".into(),
        Value::Op(o) => ops.name(*o).to_string(),
        Value::Filter(f) => super::render::filter(f),
        Value::Modifier(m) => match &m.arg {
            Some(a) => format!("(with {} {})", m.name, a),
            None => format!("(with {})", m.name),
        },
        Value::Opaque(n) => format!("#<unknown {n}>"),
    }
}

/// An evaluation error at a span.
#[derive(Debug)]
pub(crate) struct EvalError {
    pub span: Span,
    pub message: String,
    /// The nesting limit was hit (evaluation may succeed with a deeper stack).
    pub too_deep: bool,
}

type R<T> = Result<T, EvalError>;

fn err<T>(span: Span, message: impl Into<String>) -> R<T> {
    Err(EvalError { span, message: message.into(), too_deep: false })
}

/// `name` was called with `n` arguments: an error unless `lo <= n <= hi` (`hi` may be `usize::MAX`).
fn check_arity(name: &str, n: usize, lo: usize, hi: usize, span: Span) -> R<()> {
    if n < lo || n > hi {
        let want = if lo == hi { format!("{lo}") } else if hi == usize::MAX { format!("at least {lo}") } else { format!("{lo} to {hi}") };
        return err(span, format!("`{name}` expected {want} argument(s), found {n}"));
    }
    Ok(())
}

fn too_deep<T>(span: Span, max_depth: usize) -> R<T> {
    Err(EvalError { span, message: format!("expected evaluation nested at most {max_depth} calls deep (runaway recursion?)"), too_deep: true })
}

/// One `(allow ...)`/`(deny ...)` as evaluated.
#[derive(Debug, Clone)]
pub(crate) struct RawRule {
    pub action: Action,
    pub ops: Vec<OpId>,
    pub filter: Option<Filter>,
    pub modifiers: Modifiers,
    pub span: Span,
}

/// Something the policy cannot know: an unresolved import or a call into one.
#[derive(Debug, Clone)]
pub(crate) struct UnknownEffect {
    /// Number of rules evaluated before it (its position in the rule order).
    pub position: usize,
    pub span: Span,
    pub what: String,
}

/// A warning with a position.
#[derive(Debug, Clone)]
pub(crate) struct RawWarning {
    pub span: Span,
    pub message: String,
}

/// What evaluation produced.
pub(crate) struct Evaluated {
    pub rules: Vec<RawRule>,
    pub unknown_effects: Vec<UnknownEffect>,
    pub warnings: Vec<RawWarning>,
    pub params_used: IndexMap<String, bool>,
    pub version: Option<i64>,
}

pub(crate) struct Evaluator<'p> {
    pub ops: Operations,
    params: &'p IndexMap<String, String>,
    global: Env,
    frames: Vec<Env>,
    depth: usize,
    max_depth: usize,
    steps: u64,
    rules: Vec<RawRule>,
    unknown_effects: Vec<UnknownEffect>,
    warnings: Vec<RawWarning>,
    params_used: IndexMap<String, bool>,
    version: Option<i64>,
    /// `with-filter` / `with-modifier` / `with-operations` in force.
    with_filters: Vec<Filter>,
    with_modifiers: Vec<Rc<Modifier>>,
    with_ops: Vec<OpId>,
    /// Span of the innermost form being applied (for rule origins and errors in builtins).
    call_span: Span,
    /// Whether an unresolved import has been seen (its names then evaluate to opaque values).
    imports_unresolved: bool,
}

impl<'p> Drop for Evaluator<'p> {
    fn drop(&mut self) {
        // Closures and their frames refer to each other; clear frames to free the cycles.
        for f in &self.frames {
            if let Ok(mut f) = f.try_borrow_mut() {
                f.vars.clear();
                f.parent = None;
            }
        }
        if let Ok(mut g) = self.global.try_borrow_mut() {
            g.vars.clear();
        }
    }
}

fn new_frame(parent: Option<Env>) -> Env {
    Rc::new(RefCell::new(Frame { vars: HashMap::new(), parent }))
}

/// Filters whose value a request cannot reveal: they evaluate as unknown. Each also exists as
/// `-prefix`/`-regex` where it takes a string pattern.
const OPAQUE_FILTERS: &[&str] = &[
    "vnode-type", "extension", "file-mode", "process-attribute", "system-attribute", "file-attribute",
    "csr", "require-entitlement", "entitlement-value", "entitlement-value-regex", "%entitlement-load",
    "%entitlement-boolean", "%entitlement-string", "%entitlement-is-bool-true", "%entitlement-is-present",
    "uid", "device-major", "device-minor", "device-conforms-to", "fsctl-command", "ioctl-command",
    "syscall-number", "syscall-mask", "mac-policy-name", "mac-syscall-number", "process-path",
    "process-subpath", "signing-identifier", "target-signing-identifier", "ancestor-signing-identifier",
    "require-ancestor-with-entitlement", "require-target-with-entitlement",
    "require-responsible-binary-with-entitlement", "xattr", "mount-relative-path",
    "mount-relative-subpath", "mount-relative-literal", "filesystem-name", "storage-class",
    "storage-class-extension", "semaphore-owner", "persona-type", "iokit-usb-interface-class",
    "iokit-usb-interface-subclass", "iokit-registry-entry-attribute", "state-flag", "privilege-id",
    "reboot-flags", "host-special-port", "notification-payload", "rootless-boot-device-filter",
    "rootless-disk-filter", "datavault-disk-filter", "extension-path-ancestor", "user-intent-extension",
    "snapshot-name", "mach-derived-port-role", "message-number", "message-name", "iokit-method-number",
    "iokit-trap-number", "machtrap-number", "kernel-mig-routine", "iokit-user-client-type",
    "fcntl-command", "socket-option-level", "socket-option-name", "necp-client-action",
    "memorystatus-control-command", "task-special-port", "fileprovider-syncroot-path", "mount-root-path",
    "codesigning-operation", "kas-info-selector", "control-name", "debug-mode", "mach-extension",
    "granted-extensions", "extension-class", "boot-arg", "iokit-connection", "process-name",
];

/// String filters compared with a named target (base names; `-prefix`/`-regex` derive).
const NAME_FILTERS: &[&str] = &[
    "global-name", "local-name", "xpc-service-name", "ipc-posix-name", "sysctl-name", "preference-domain",
    "right-name", "notification-name", "nvram-variable", "iokit-registry-entry-class", "iokit-property",
    "kext-bundle-id", "info-type", "appleevent-destination",
];

const MODIFIERS: &[&str] = &[
    "report", "no-report", "no-log", "send-signal", "message", "no-sandbox", "no-profile", "grant",
    "no-callout", "partial-symbolication", "termination", "rootless", "deprecated", "user-approval",
    "no-approval-prompt", "authority", "telemetry", "default-sandbox", "no-times", "assign-storage-class",
];

/// Procedures provided by the evaluator (Scheme subset + SBPL library).
const BUILTINS: &[&str] = &[
    "list", "cons", "car", "cdr", "cadr", "cddr", "caar", "cdar", "caddr", "cdddr", "length", "append",
    "reverse", "apply", "map", "for-each", "null?", "pair?", "list?", "symbol?", "string?", "number?",
    "integer?", "boolean?", "procedure?", "not", "eq?", "eqv?", "equal?", "string-append", "string=?",
    "string<?", "string>?", "string-prefix?", "string-suffix?", "string-length", "string-ref", "substring",
    "string->number", "number->string", "string->symbol", "symbol->string", "string", "list-ref", "memq",
    "member", "assq", "assoc", "+", "-", "*", "<", ">", "<=", ">=", "=", "zero?", "quotient", "remainder",
    "modulo", "min", "max", "abs", "regex-quote", "variable-quote", "param", "getenv", "defined?", "error",
    "display", "newline", "_IO", "path-ancestors", "version", "allow", "deny", "import", "with",
    "require-all", "require-any", "require-not", "%finalize", "trace", "disable-callouts",
    "disable-full-symbolication", "eliminate-duplicate-rules", "local", "remote", "from", "to", "target",
    "socket-domain", "socket-type", "socket-protocol", "signal-number", "tty", "path", "literal",
    "path-literal", "subpath", "prefix", "path-prefix", "regex", "path-regex", "vector", "last-pair",
    "list-tail", "string-upcase", "string-downcase", "char=?", "string-index", "boolean=?", "void",
];

fn symbol_of(s: &Sexp) -> Option<&str> {
    s.as_symbol()
}

impl<'p> Evaluator<'p> {
    pub(crate) fn new(params: &'p IndexMap<String, String>, max_depth: usize) -> Evaluator<'p> {
        Evaluator {
            ops: Operations::new(),
            params,
            global: new_frame(None),
            frames: Vec::new(),
            depth: 0,
            max_depth,
            steps: 0,
            rules: Vec::new(),
            unknown_effects: Vec::new(),
            warnings: Vec::new(),
            params_used: IndexMap::new(),
            version: None,
            with_filters: Vec::new(),
            with_modifiers: Vec::new(),
            with_ops: Vec::new(),
            call_span: Span::default(),
            imports_unresolved: false,
        }
    }

    /// Evaluate one top-level form.
    pub(crate) fn eval_top(&mut self, form: &Sexp) -> R<()> {
        let env = self.global.clone();
        self.eval(form, &env)?;
        Ok(())
    }

    /// Run `%finalize` if a profile replaced it, then hand over the results.
    pub(crate) fn finish(mut self) -> R<Evaluated> {
        let fin = self.global.borrow().vars.get("%finalize").cloned();
        if let Some(f) = fin {
            let span = self.call_span;
            self.apply(&f, Vec::new(), span)?;
        }
        Ok(Evaluated {
            rules: std::mem::take(&mut self.rules),
            unknown_effects: std::mem::take(&mut self.unknown_effects),
            warnings: std::mem::take(&mut self.warnings),
            params_used: std::mem::take(&mut self.params_used),
            version: self.version,
        })
    }

    fn step(&mut self, span: Span) -> R<()> {
        self.steps += 1;
        if self.steps > MAX_STEPS {
            return err(span, format!("expected evaluation to finish within {MAX_STEPS} steps (runaway recursion?)"));
        }
        Ok(())
    }

    fn lookup(&mut self, name: &str, env: &Env, span: Span) -> R<Value> {
        let mut cur = Some(env.clone());
        while let Some(e) = cur {
            let frame = e.borrow();
            if let Some(v) = frame.vars.get(name) {
                return Ok(v.clone());
            }
            cur = frame.parent.clone();
        }
        if let Some(op) = self.ops.resolve(name) {
            return Ok(Value::Op(op));
        }
        if is_builtin(name) {
            return Ok(Value::Builtin(name.into()));
        }
        if self.imports_unresolved {
            self.warnings.push(RawWarning {
                span,
                message: format!("`{name}` is not defined here; assuming an unresolved import defines it (its effect is unknown)"),
            });
            return Ok(Value::Opaque(name.into()));
        }
        err(span, format!("unbound variable: {name} (expected a defined name, operation, filter or procedure)"))
    }

    fn is_defined(&self, name: &str, env: &Env) -> bool {
        let mut cur = Some(env.clone());
        while let Some(e) = cur {
            let frame = e.borrow();
            if frame.vars.contains_key(name) {
                return true;
            }
            cur = frame.parent.clone();
        }
        self.ops.resolve(name).is_some() || is_builtin(name)
    }

    fn set_existing(&mut self, name: &str, value: Value, env: &Env, span: Span) -> R<()> {
        let mut cur = Some(env.clone());
        while let Some(e) = cur {
            let mut frame = e.borrow_mut();
            if let Some(slot) = frame.vars.get_mut(name) {
                *slot = value;
                return Ok(());
            }
            cur = frame.parent.clone();
        }
        if is_builtin(name) || self.ops.resolve(name).is_some() {
            self.global.borrow_mut().vars.insert(name.into(), value);
            return Ok(());
        }
        err(span, format!("set!: unbound variable: {name}"))
    }

    fn eval(&mut self, form: &Sexp, env: &Env) -> R<Value> {
        self.step(form.span)?;
        match &form.kind {
            SexpKind::Symbol(name) => self.lookup(name, env, form.span),
            SexpKind::Str(s) => Ok(Value::Str(s.clone())),
            SexpKind::Int(n) => Ok(Value::Int(*n)),
            SexpKind::Bool(b) => Ok(Value::Bool(*b)),
            SexpKind::Char(c) => Ok(Value::Char(*c)),
            SexpKind::Dotted(..) => err(form.span, "expected a procedure call, found a dotted list"),
            SexpKind::List(items) => {
                if items.is_empty() {
                    return err(form.span, "expected a procedure call, found `()`");
                }
                self.depth += 1;
                if self.depth > self.max_depth {
                    self.depth -= 1;
                    return too_deep(form.span, self.max_depth);
                }
                let result = self.eval_list(form, items, env);
                self.depth -= 1;
                result
            }
        }
    }

    fn eval_body(&mut self, body: &[Sexp], env: &Env) -> R<Value> {
        let mut last = Value::Unspecified;
        for f in body {
            last = self.eval(f, env)?;
        }
        Ok(last)
    }

    fn eval_list(&mut self, form: &Sexp, items: &[Sexp], env: &Env) -> R<Value> {
        let head = &items[0];
        if let Some(name) = symbol_of(head) {
            // Special forms (not shadowable, as in the reference library's usage).
            if let Some(v) = self.special_form(name, form, items, env)? {
                return Ok(v);
            }
        }
        let f = self.eval(head, env)?;
        if let Value::Macro(m) = &f {
            let m = m.clone();
            let whole = sexp_to_value(form);
            let expansion = self.call_lambda(&m, vec![whole], form.span)?;
            let code = value_to_sexp(&expansion, form.span, &self.ops).map_err(|m| EvalError { span: form.span, message: m, too_deep: false })?;
            return self.eval(&code, env);
        }
        // Filter and modifier constructors take bare constant names (`DIRECTORY`, `self`, `ip`).
        let lenient = matches!(&f, Value::Builtin(n) if takes_constants(n));
        let mut args = Vec::with_capacity(items.len() - 1);
        for a in &items[1..] {
            let v = match (&a.kind, lenient) {
                (SexpKind::Symbol(s), true) if !self.is_defined(s, env) => Value::Sym(s.clone()),
                _ => self.eval(a, env)?,
            };
            args.push(v);
        }
        self.apply(&f, args, form.span)
    }

    fn apply(&mut self, f: &Value, args: Vec<Value>, span: Span) -> R<Value> {
        match f {
            Value::Lambda(l) => {
                let l = l.clone();
                self.call_lambda(&l, args, span)
            }
            Value::Builtin(name) => {
                let saved = self.call_span;
                self.call_span = span;
                let r = self.builtin(name, args, span);
                self.call_span = saved;
                r
            }
            Value::Opaque(name) => {
                // A procedure from an unresolved import: whatever it does (typically adding
                // rules) is unknown here.
                self.unknown_effects.push(UnknownEffect {
                    position: self.rules.len(),
                    span,
                    what: format!("call of `{name}` from an unresolved import"),
                });
                Ok(Value::Opaque(name.clone()))
            }
            other => err(span, format!("expected a procedure to call, found {} `{}`", other.type_name(), show(other, &self.ops))),
        }
    }

    fn call_lambda(&mut self, l: &Lambda, args: Vec<Value>, span: Span) -> R<Value> {
        if args.len() < l.params.len() || (l.rest.is_none() && args.len() > l.params.len()) {
            return err(
                span,
                format!(
                    "expected {}{} argument(s), found {}",
                    if l.rest.is_some() { "at least " } else { "" },
                    l.params.len(),
                    args.len()
                ),
            );
        }
        self.depth += 1;
        if self.depth > self.max_depth {
            self.depth -= 1;
            return too_deep(span, self.max_depth);
        }
        let frame = new_frame(Some(l.env.clone()));
        {
            let mut fr = frame.borrow_mut();
            let mut it = args.into_iter();
            for p in &l.params {
                fr.vars.insert(p.clone(), it.next().unwrap_or(Value::Unspecified));
            }
            if let Some(rest) = &l.rest {
                fr.vars.insert(rest.clone(), Value::list(it.collect()));
            }
        }
        self.frames.push(frame.clone());
        let body = l.body.clone();
        let r = self.eval_body(&body, &frame);
        self.depth -= 1;
        r
    }

    fn make_lambda(&mut self, formals: &Sexp, body: &[Sexp], env: &Env, span: Span) -> R<Value> {
        let (params, rest) = match &formals.kind {
            SexpKind::Symbol(s) => (Vec::new(), Some(s.clone())),
            SexpKind::List(items) => (symbols(items, span)?, None),
            SexpKind::Dotted(items, tail) => {
                let Some(t) = symbol_of(tail) else { return err(tail.span, "expected a symbol after `.` in a parameter list") };
                (symbols(items, span)?, Some(t.into()))
            }
            _ => return err(formals.span, "expected a parameter list"),
        };
        if body.is_empty() {
            return err(span, "expected at least one expression in the body");
        }
        Ok(Value::Lambda(Rc::new(Lambda { params, rest, body: body.to_vec().into(), env: env.clone() })))
    }

    /// Evaluate a special form, or `None` when `name` is not one.
    fn special_form(&mut self, name: &str, form: &Sexp, items: &[Sexp], env: &Env) -> R<Option<Value>> {
        let span = form.span;
        let args = &items[1..];
        let v = match name {
            "quote" => {
                let [x] = args else { return err(span, "expected exactly one datum in `quote`") };
                sexp_to_value(x)
            }
            "quasiquote" => {
                let [x] = args else { return err(span, "expected exactly one datum in `quasiquote`") };
                self.quasi(x, env, 1)?
            }
            "if" => {
                if args.len() < 2 || args.len() > 3 {
                    return err(span, "expected `(if TEST THEN [ELSE])`");
                }
                if self.eval(&args[0], env)?.truthy() {
                    self.eval(&args[1], env)?
                } else if let Some(e) = args.get(2) {
                    self.eval(e, env)?
                } else {
                    Value::Unspecified
                }
            }
            "when" | "unless" => {
                let Some(test) = args.first() else { return err(span, format!("expected `({name} TEST BODY...)`")) };
                let t = self.eval(test, env)?.truthy();
                if t == (name == "when") {
                    self.eval_body(&args[1..], env)?
                } else {
                    Value::Unspecified
                }
            }
            "begin" => self.eval_body(args, env)?,
            "define" => {
                let Some(target) = args.first() else { return err(span, "expected `(define NAME VALUE)` or `(define (NAME ARGS...) BODY...)`") };
                match &target.kind {
                    SexpKind::Symbol(n) => {
                        let value = match args.get(1) {
                            Some(e) => self.eval(e, env)?,
                            None => Value::Unspecified,
                        };
                        if args.len() > 2 {
                            return err(span, "expected `(define NAME VALUE)` with one value");
                        }
                        env.borrow_mut().vars.insert(n.clone(), value);
                    }
                    SexpKind::List(sig) | SexpKind::Dotted(sig, _) => {
                        let Some(fname) = sig.first().and_then(symbol_of) else {
                            return err(target.span, "expected a procedure name");
                        };
                        let formals = match &target.kind {
                            SexpKind::List(sig) => Sexp { kind: SexpKind::List(sig[1..].to_vec()), span: target.span },
                            SexpKind::Dotted(sig, tail) => {
                                if sig.len() == 1 {
                                    (**tail).clone()
                                } else {
                                    Sexp { kind: SexpKind::Dotted(sig[1..].to_vec(), tail.clone()), span: target.span }
                                }
                            }
                            _ => unreachable!("matched above"),
                        };
                        let l = self.make_lambda(&formals, &args[1..], env, span)?;
                        env.borrow_mut().vars.insert(fname.into(), l);
                    }
                    _ => return err(target.span, "expected a name or `(NAME ARGS...)` after `define`"),
                }
                Value::Unspecified
            }
            "set!" => {
                let [target, e] = args else { return err(span, "expected `(set! NAME VALUE)`") };
                let Some(n) = symbol_of(target) else { return err(target.span, "expected a name after `set!`") };
                let v = self.eval(e, env)?;
                self.set_existing(n, v, env, target.span)?;
                Value::Unspecified
            }
            "lambda" => {
                let Some(formals) = args.first() else { return err(span, "expected `(lambda ARGS BODY...)`") };
                self.make_lambda(formals, &args[1..], env, span)?
            }
            "macro" => {
                // TinyScheme: `(macro (NAME FORM) BODY...)` or `(macro NAME (lambda (FORM) ...))`.
                let Some(target) = args.first() else { return err(span, "expected `(macro (NAME FORM) BODY...)`") };
                match &target.kind {
                    SexpKind::List(sig) if sig.len() == 2 => {
                        let Some(mname) = symbol_of(&sig[0]) else { return err(target.span, "expected a macro name") };
                        let formals = Sexp { kind: SexpKind::List(sig[1..].to_vec()), span: target.span };
                        let Value::Lambda(l) = self.make_lambda(&formals, &args[1..], env, span)? else { unreachable!() };
                        env.borrow_mut().vars.insert(mname.into(), Value::Macro(l));
                    }
                    SexpKind::Symbol(mname) if args.len() == 2 => match self.eval(&args[1], env)? {
                        Value::Lambda(l) => {
                            env.borrow_mut().vars.insert(mname.clone(), Value::Macro(l));
                        }
                        other => return err(args[1].span, format!("expected a procedure for macro `{mname}`, found {}", other.type_name())),
                    },
                    _ => return err(target.span, "expected `(NAME FORM)` after `macro`"),
                }
                Value::Unspecified
            }
            "let" | "let*" | "letrec" | "letrec*" => self.eval_let(name, span, args, env)?,
            "and" => {
                let mut last = Value::Bool(true);
                for a in args {
                    last = self.eval(a, env)?;
                    if !last.truthy() {
                        break;
                    }
                }
                last
            }
            "or" => {
                let mut last = Value::Bool(false);
                for a in args {
                    last = self.eval(a, env)?;
                    if last.truthy() {
                        break;
                    }
                }
                last
            }
            "cond" => {
                for clause in args {
                    let SexpKind::List(parts) = &clause.kind else { return err(clause.span, "expected `(TEST BODY...)` in `cond`") };
                    let Some(test) = parts.first() else { return err(clause.span, "expected a test in a `cond` clause") };
                    let hit = if test.as_symbol() == Some("else") { Value::Bool(true) } else { self.eval(test, env)? };
                    if hit.truthy() {
                        if parts.len() == 1 {
                            return Ok(Some(hit));
                        }
                        if parts.len() == 3 && parts[1].as_symbol() == Some("=>") {
                            let f = self.eval(&parts[2], env)?;
                            return self.apply(&f, vec![hit], clause.span).map(Some);
                        }
                        return self.eval_body(&parts[1..], env).map(Some);
                    }
                }
                Value::Unspecified
            }
            "case" => {
                let Some(key) = args.first() else { return err(span, "expected `(case KEY CLAUSES...)`") };
                let k = self.eval(key, env)?;
                for clause in &args[1..] {
                    let SexpKind::List(parts) = &clause.kind else { return err(clause.span, "expected `((DATUM...) BODY...)` in `case`") };
                    let Some(data) = parts.first() else { return err(clause.span, "expected data in a `case` clause") };
                    let hit = match &data.kind {
                        SexpKind::Symbol(s) if &**s == "else" => true,
                        SexpKind::List(ds) => ds.iter().any(|d| eqv(&sexp_to_value(d), &k)),
                        _ => return err(data.span, "expected a list of data in a `case` clause"),
                    };
                    if hit {
                        return self.eval_body(&parts[1..], env).map(Some);
                    }
                }
                Value::Unspecified
            }
            // Library macros that discard their arguments.
            "debug" => Value::Unspecified,
            "with-filter" | "with-modifier" | "with-operations" => {
                let Some(first) = args.first() else { return err(span, format!("expected `({name} X RULES...)`")) };
                let v = self.eval(first, env)?;
                let saved = (self.with_filters.len(), self.with_modifiers.len(), self.with_ops.len());
                match (name, v) {
                    ("with-filter", Value::Filter(f)) => self.with_filters.push((*f).clone()),
                    ("with-filter", Value::Opaque(_)) => self.with_filters.push(Filter::Const(Tri::Unknown)),
                    ("with-modifier", Value::Modifier(m)) => self.with_modifiers.push(m),
                    ("with-operations", v) => {
                        let list = v.to_vec().unwrap_or_else(|| vec![v.clone()]);
                        for o in list {
                            match o {
                                Value::Op(id) => self.with_ops.push(id),
                                other => return err(first.span, format!("expected operations, found {}", other.type_name())),
                            }
                        }
                    }
                    (_, other) => return err(first.span, format!("expected a {} for `{name}`, found {}", &name[5..], other.type_name())),
                }
                let r = self.eval_body(&args[1..], env);
                self.with_filters.truncate(saved.0);
                self.with_modifiers.truncate(saved.1);
                self.with_ops.truncate(saved.2);
                r?
            }
            _ => return Ok(None),
        };
        Ok(Some(v))
    }

    fn eval_let(&mut self, name: &str, span: Span, args: &[Sexp], env: &Env) -> R<Value> {
        let Some(first) = args.first() else { return err(span, format!("expected `({name} ((NAME VALUE)...) BODY...)`")) };
        // Named let: `(let loop ((i 0)) body)`.
        if let (Some(loop_name), "let") = (symbol_of(first), name) {
            let Some(bindings) = args.get(1) else { return err(span, "expected bindings after the name of a named `let`") };
            let pairs = self.bindings(bindings)?;
            let mut values = Vec::new();
            for (_, e) in &pairs {
                values.push(self.eval(e, env)?);
            }
            let frame = new_frame(Some(env.clone()));
            self.frames.push(frame.clone());
            let formals = Sexp {
                kind: SexpKind::List(pairs.iter().map(|(n, _)| Sexp { kind: SexpKind::Symbol(n.clone()), span }).collect()),
                span,
            };
            let l = self.make_lambda(&formals, &args[2..], &frame, span)?;
            frame.borrow_mut().vars.insert(loop_name.into(), l.clone());
            return self.apply(&l, values, span);
        }
        let pairs = self.bindings(first)?;
        let frame = new_frame(Some(env.clone()));
        self.frames.push(frame.clone());
        for (n, e) in &pairs {
            let eval_env = if name == "let" { env.clone() } else { frame.clone() };
            let v = self.eval(e, &eval_env)?;
            frame.borrow_mut().vars.insert(n.clone(), v);
        }
        if args.len() < 2 {
            return err(span, format!("expected a body in `{name}`"));
        }
        self.eval_body(&args[1..], &frame)
    }

    fn bindings<'s>(&self, b: &'s Sexp) -> R<Vec<(Rc<str>, &'s Sexp)>> {
        let SexpKind::List(items) = &b.kind else { return err(b.span, "expected a list of `(NAME VALUE)` bindings") };
        let mut out = Vec::new();
        for item in items {
            match &item.kind {
                SexpKind::List(pair) if pair.len() == 2 => {
                    let Some(n) = symbol_of(&pair[0]) else { return err(pair[0].span, "expected a name in a binding") };
                    out.push((Rc::from(n), &pair[1]));
                }
                _ => return err(item.span, "expected a `(NAME VALUE)` binding"),
            }
        }
        Ok(out)
    }

    fn quasi(&mut self, x: &Sexp, env: &Env, depth: usize) -> R<Value> {
        match &x.kind {
            SexpKind::List(items) => {
                if let (Some("unquote"), 2) = (items.first().and_then(symbol_of), items.len()) {
                    return if depth == 1 {
                        self.eval(&items[1], env)
                    } else {
                        Ok(Value::list(vec![Value::Sym("unquote".into()), self.quasi(&items[1], env, depth - 1)?]))
                    };
                }
                if let (Some("quasiquote"), 2) = (items.first().and_then(symbol_of), items.len()) {
                    return Ok(Value::list(vec![Value::Sym("quasiquote".into()), self.quasi(&items[1], env, depth + 1)?]));
                }
                let mut out = Vec::new();
                for item in items {
                    if let SexpKind::List(inner) = &item.kind {
                        if let (Some("unquote-splicing"), 2, 1) = (inner.first().and_then(symbol_of), inner.len(), depth) {
                            let v = self.eval(&inner[1], env)?;
                            match v.to_vec() {
                                Some(vs) => out.extend(vs),
                                None => return err(item.span, format!("expected a list for `,@`, found {}", v.type_name())),
                            }
                            continue;
                        }
                    }
                    out.push(self.quasi(item, env, depth)?);
                }
                Ok(Value::list(out))
            }
            SexpKind::Dotted(items, tail) => {
                let mut tail_v = self.quasi(tail, env, depth)?;
                for item in items.iter().rev() {
                    tail_v = Value::Pair(Rc::new((self.quasi(item, env, depth)?, tail_v)));
                }
                Ok(tail_v)
            }
            _ => Ok(sexp_to_value(x)),
        }
    }

    fn param(&mut self, name: &str) -> Value {
        let v = self.params.get(name);
        self.params_used.entry(name.to_string()).or_insert(v.is_some());
        match v {
            Some(v) => Value::Str(v.as_str().into()),
            None => Value::Bool(false),
        }
    }

    fn builtin(&mut self, name: &str, args: Vec<Value>, span: Span) -> R<Value> {
        let n = args.len();
        let arity = |lo: usize, hi: usize| check_arity(name, n, lo, hi, span);
        let opaque = args.iter().find_map(|a| if let Value::Opaque(o) = a { Some(o.clone()) } else { None });
        match name {
            "allow" | "deny" => return self.rule(if name == "allow" { Action::Allow } else { Action::Deny }, args, span),
            "version" => {
                arity(1, 1)?;
                let Value::Int(v) = args[0] else { return err(span, "expected a version number: `(version 1)`") };
                if !(1..=3).contains(&v) {
                    return err(span, format!("unsupported version {v} (expected `(version 1)`)"));
                }
                if let Some(old) = self.version {
                    if old != v {
                        return err(span, "only one version may be specified");
                    }
                }
                self.version = Some(v);
                return Ok(Value::Unspecified);
            }
            "import" => {
                arity(1, 1)?;
                let Value::Str(file) = &args[0] else { return err(span, "expected a profile name string in `(import \"name.sb\")`") };
                self.imports_unresolved = true;
                self.unknown_effects.push(UnknownEffect {
                    position: self.rules.len(),
                    span,
                    what: format!("(import {})", super::render::quote(file)),
                });
                self.warnings.push(RawWarning {
                    span,
                    message: format!(
                        "imported profile {} is not available here: decisions it could affect are indeterminate",
                        super::render::quote(file)
                    ),
                });
                return Ok(Value::Unspecified);
            }
            "%finalize" | "trace" | "disable-callouts" | "disable-full-symbolication" | "eliminate-duplicate-rules" => {
                return Ok(Value::Unspecified)
            }
            "param" | "getenv" => {
                arity(1, 1)?;
                return match &args[0] {
                    Value::Str(s) => Ok(self.param(s)),
                    Value::Opaque(o) => Ok(Value::Opaque(o.clone())),
                    other => err(span, format!("`param` expected a parameter name string, found {}", other.type_name())),
                };
            }
            "defined?" => {
                arity(1, 1)?;
                let Value::Sym(s) = &args[0] else { return err(span, "`defined?` expected a quoted symbol") };
                let global = self.global.clone();
                return Ok(Value::Bool(self.is_defined(s, &global)));
            }
            "error" => {
                let msg: Vec<String> = args.iter().map(|a| match a { Value::Str(s) => s.to_string(), o => show(o, &self.ops) }).collect();
                return err(span, format!("profile raised an error: {}", msg.join(" ")));
            }
            _ => {}
        }
        if let Some(o) = &opaque {
            // A value from an unresolved import flows into a computation: the result is unknown
            // too. Filters made from it become unknown filters.
            if is_filter_name(name) || matches!(name, "require-all" | "require-any" | "require-not") {
                return Ok(Value::Filter(Rc::new(Filter::Const(Tri::Unknown))));
            }
            if !matches!(name, "list" | "cons" | "apply" | "map" | "for-each" | "string?" | "not" | "null?" | "pair?") {
                return Ok(Value::Opaque(o.clone()));
            }
        }
        if is_filter_name(name) || matches!(name, "require-all" | "require-any" | "require-not" | "with") {
            return self.filter_ctor(name, args, span);
        }
        self.scheme_builtin(name, args, span)
    }

    fn scheme_builtin(&mut self, name: &str, args: Vec<Value>, span: Span) -> R<Value> {
        let n = args.len();
        let arity = |lo: usize, hi: usize| check_arity(name, n, lo, hi, span);
        let want_str = |v: &Value, what: &str| -> R<Rc<str>> {
            match v {
                Value::Str(s) => Ok(s.clone()),
                other => err(span, format!("`{what}` expected a string, found {}", other.type_name())),
            }
        };
        let want_int = |v: &Value, what: &str| -> R<i64> {
            match v {
                Value::Int(i) => Ok(*i),
                other => err(span, format!("`{what}` expected a number, found {}", other.type_name())),
            }
        };
        let want_list = |v: &Value, what: &str| -> R<Vec<Value>> {
            v.to_vec().map_or_else(|| err(span, format!("`{what}` expected a list, found {}", v.type_name())), Ok)
        };
        let v = match name {
            "list" | "vector" => Value::list(args),
            "cons" => {
                arity(2, 2)?;
                let mut it = args.into_iter();
                let a = it.next().unwrap_or(Value::Nil);
                let b = it.next().unwrap_or(Value::Nil);
                Value::Pair(Rc::new((a, b)))
            }
            "car" | "cdr" | "cadr" | "cddr" | "caar" | "cdar" | "caddr" | "cdddr" => {
                arity(1, 1)?;
                let path = &name[1..name.len() - 1];
                let mut v = args[0].clone();
                for step in path.chars().rev() {
                    v = match &v {
                        Value::Pair(p) => if step == 'a' { p.0.clone() } else { p.1.clone() },
                        other => return err(span, format!("`{name}` expected a pair, found {}", other.type_name())),
                    };
                }
                v
            }
            "length" => {
                arity(1, 1)?;
                Value::Int(want_list(&args[0], name)?.len() as i64)
            }
            "append" => {
                let mut out = Vec::new();
                let last = args.len().saturating_sub(1);
                let mut tail = Value::Nil;
                for (i, a) in args.iter().enumerate() {
                    if i == last {
                        tail = a.clone();
                    } else {
                        out.extend(want_list(a, name)?);
                    }
                }
                let mut v = tail;
                for item in out.into_iter().rev() {
                    v = Value::Pair(Rc::new((item, v)));
                }
                v
            }
            "reverse" => {
                arity(1, 1)?;
                let mut l = want_list(&args[0], name)?;
                l.reverse();
                Value::list(l)
            }
            "list-ref" | "list-tail" => {
                arity(2, 2)?;
                let l = want_list(&args[0], name)?;
                let i = want_int(&args[1], name)?;
                if i < 0 || i as usize > l.len() || (name == "list-ref" && i as usize == l.len()) {
                    return err(span, format!("`{name}` index {i} out of range"));
                }
                if name == "list-ref" { l[i as usize].clone() } else { Value::list(l[i as usize..].to_vec()) }
            }
            "last-pair" => {
                arity(1, 1)?;
                let mut cur = args[0].clone();
                loop {
                    let next = match &cur {
                        Value::Pair(p) if matches!(p.1, Value::Pair(_)) => p.1.clone(),
                        _ => break,
                    };
                    cur = next;
                }
                cur
            }
            "apply" => {
                if n < 1 {
                    return err(span, "`apply` expected a procedure and a list");
                }
                let mut it = args.into_iter();
                let f = it.next().unwrap_or(Value::Nil);
                let mut rest: Vec<Value> = it.collect();
                let mut call_args = Vec::new();
                if let Some(last) = rest.pop() {
                    call_args.extend(rest);
                    call_args.extend(want_list(&last, name)?);
                }
                return self.apply(&f, call_args, span);
            }
            "map" | "for-each" => {
                if n < 2 {
                    return err(span, format!("`{name}` expected a procedure and at least one list"));
                }
                let f = args[0].clone();
                let lists: Vec<Vec<Value>> = args[1..].iter().map(|l| want_list(l, name)).collect::<R<_>>()?;
                let len = lists.iter().map(|l| l.len()).min().unwrap_or(0);
                let mut out = Vec::with_capacity(len);
                for i in 0..len {
                    let call: Vec<Value> = lists.iter().map(|l| l[i].clone()).collect();
                    out.push(self.apply(&f, call, span)?);
                }
                if name == "map" { Value::list(out) } else { Value::Unspecified }
            }
            "memq" | "member" => {
                arity(2, 2)?;
                let mut cur = args[1].clone();
                loop {
                    let next = match &cur {
                        Value::Pair(p) => {
                            let hit = if name == "memq" { eqv(&p.0, &args[0]) } else { equal(&p.0, &args[0]) };
                            if hit {
                                return Ok(cur.clone());
                            }
                            p.1.clone()
                        }
                        _ => return Ok(Value::Bool(false)),
                    };
                    cur = next;
                }
            }
            "assq" | "assoc" => {
                arity(2, 2)?;
                for entry in want_list(&args[1], name)? {
                    if let Value::Pair(p) = &entry {
                        let hit = if name == "assq" { eqv(&p.0, &args[0]) } else { equal(&p.0, &args[0]) };
                        if hit {
                            return Ok(entry.clone());
                        }
                    }
                }
                Value::Bool(false)
            }
            "null?" => Value::Bool(matches!(args.first(), Some(Value::Nil))),
            "pair?" => Value::Bool(matches!(args.first(), Some(Value::Pair(_)))),
            "list?" => Value::Bool(args.first().is_some_and(|a| a.to_vec().is_some())),
            "symbol?" => Value::Bool(matches!(args.first(), Some(Value::Sym(_)))),
            "string?" => Value::Bool(matches!(args.first(), Some(Value::Str(_)))),
            "number?" | "integer?" => Value::Bool(matches!(args.first(), Some(Value::Int(_)))),
            "boolean?" => Value::Bool(matches!(args.first(), Some(Value::Bool(_)))),
            "procedure?" => Value::Bool(matches!(args.first(), Some(Value::Lambda(_) | Value::Builtin(_)))),
            "not" => {
                arity(1, 1)?;
                Value::Bool(!args[0].truthy())
            }
            "eq?" | "eqv?" => {
                arity(2, 2)?;
                Value::Bool(eqv(&args[0], &args[1]))
            }
            "equal?" => {
                arity(2, 2)?;
                Value::Bool(equal(&args[0], &args[1]))
            }
            "boolean=?" | "char=?" => {
                arity(2, 2)?;
                Value::Bool(eqv(&args[0], &args[1]))
            }
            "string-append" => {
                let mut s = String::new();
                for a in &args {
                    match a {
                        Value::Str(x) => s.push_str(x),
                        Value::Bool(false) => {
                            return err(span, "`string-append` expected strings, found #f (an unset parameter or #f definition?)")
                        }
                        other => return err(span, format!("`string-append` expected strings, found {}", other.type_name())),
                    }
                }
                Value::Str(s.into())
            }
            "string" => {
                let mut s = String::new();
                for a in &args {
                    match a {
                        Value::Char(c) => s.push(*c),
                        other => return err(span, format!("`string` expected characters, found {}", other.type_name())),
                    }
                }
                Value::Str(s.into())
            }
            // Comparisons of a non-string (an unset `param`) are false rather than errors: real
            // profiles test flags with `(string=? (param "X") "TRUE")`.
            "string=?" | "string<?" | "string>?" | "string-prefix?" | "string-suffix?" => {
                arity(2, 2)?;
                let (Value::Str(a), Value::Str(b)) = (&args[0], &args[1]) else { return Ok(Value::Bool(false)) };
                Value::Bool(match name {
                    "string=?" => a == b,
                    "string<?" => a < b,
                    "string>?" => a > b,
                    // SRFI-13 argument order: (string-prefix? PREFIX STRING).
                    "string-prefix?" => b.starts_with(&**a),
                    _ => b.ends_with(&**a),
                })
            }
            "string-length" => {
                arity(1, 1)?;
                Value::Int(want_str(&args[0], name)?.chars().count() as i64)
            }
            "string-ref" => {
                arity(2, 2)?;
                let s = want_str(&args[0], name)?;
                let i = want_int(&args[1], name)?;
                match usize::try_from(i).ok().and_then(|i| s.chars().nth(i)) {
                    Some(c) => Value::Char(c),
                    None => return err(span, format!("`string-ref` index {i} out of range")),
                }
            }
            "substring" => {
                arity(2, 3)?;
                let s = want_str(&args[0], name)?;
                let chars: Vec<char> = s.chars().collect();
                let start = want_int(&args[1], name)?;
                let end = if n == 3 { want_int(&args[2], name)? } else { chars.len() as i64 };
                if start < 0 || end < start || end as usize > chars.len() {
                    return err(span, format!("`substring` range {start}..{end} out of range for a string of {} characters", chars.len()));
                }
                Value::Str(chars[start as usize..end as usize].iter().collect::<String>().into())
            }
            "string-index" => {
                arity(2, 2)?;
                let s = want_str(&args[0], name)?;
                let Value::Char(c) = args[1] else { return err(span, "`string-index` expected a character") };
                match s.chars().position(|x| x == c) {
                    Some(i) => Value::Int(i as i64),
                    None => Value::Bool(false),
                }
            }
            "string-upcase" | "string-downcase" => {
                arity(1, 1)?;
                let s = want_str(&args[0], name)?;
                Value::Str(if name == "string-upcase" { s.to_uppercase() } else { s.to_lowercase() }.into())
            }
            "string->number" => {
                arity(1, 2)?;
                match &args[0] {
                    Value::Str(s) => s.trim().parse::<i64>().map(Value::Int).unwrap_or(Value::Bool(false)),
                    _ => Value::Bool(false),
                }
            }
            "number->string" => {
                arity(1, 2)?;
                Value::Str(want_int(&args[0], name)?.to_string().into())
            }
            "string->symbol" => {
                arity(1, 1)?;
                Value::Sym(want_str(&args[0], name)?)
            }
            "symbol->string" => {
                arity(1, 1)?;
                match &args[0] {
                    Value::Sym(s) => Value::Str(s.clone()),
                    Value::Op(o) => Value::Str(self.ops.name(*o).into()),
                    other => return err(span, format!("`symbol->string` expected a symbol, found {}", other.type_name())),
                }
            }
            "+" | "*" => {
                let mut acc: i64 = if name == "+" { 0 } else { 1 };
                for a in &args {
                    let x = want_int(a, name)?;
                    acc = if name == "+" { acc.wrapping_add(x) } else { acc.wrapping_mul(x) };
                }
                Value::Int(acc)
            }
            "-" => {
                arity(1, usize::MAX)?;
                let first = want_int(&args[0], name)?;
                if n == 1 {
                    Value::Int(first.wrapping_neg())
                } else {
                    let mut acc = first;
                    for a in &args[1..] {
                        acc = acc.wrapping_sub(want_int(a, name)?);
                    }
                    Value::Int(acc)
                }
            }
            "quotient" | "remainder" | "modulo" => {
                arity(2, 2)?;
                let a = want_int(&args[0], name)?;
                let b = want_int(&args[1], name)?;
                if b == 0 {
                    return err(span, format!("`{name}` division by zero"));
                }
                Value::Int(match name {
                    "quotient" => a.wrapping_div(b),
                    "remainder" => a.wrapping_rem(b),
                    _ => a.wrapping_rem(b).wrapping_add(b).wrapping_rem(b),
                })
            }
            "min" | "max" => {
                arity(1, usize::MAX)?;
                let nums: Vec<i64> = args.iter().map(|a| want_int(a, name)).collect::<R<_>>()?;
                Value::Int(if name == "min" { nums.iter().copied().min().unwrap_or(0) } else { nums.iter().copied().max().unwrap_or(0) })
            }
            "abs" => {
                arity(1, 1)?;
                Value::Int(want_int(&args[0], name)?.wrapping_abs())
            }
            "zero?" => {
                arity(1, 1)?;
                Value::Bool(want_int(&args[0], name)? == 0)
            }
            "<" | ">" | "<=" | ">=" | "=" => {
                arity(1, usize::MAX)?;
                let nums: Vec<i64> = args.iter().map(|a| want_int(a, name)).collect::<R<_>>()?;
                Value::Bool(nums.windows(2).all(|w| match name {
                    "<" => w[0] < w[1],
                    ">" => w[0] > w[1],
                    "<=" => w[0] <= w[1],
                    ">=" => w[0] >= w[1],
                    _ => w[0] == w[1],
                }))
            }
            "regex-quote" => {
                arity(1, 1)?;
                Value::Str(super::render::regex_quote(&want_str(&args[0], name)?).into())
            }
            // Pattern variables (`${HOME}`) are taken literally here, so quoting is the identity.
            "variable-quote" => {
                arity(1, 1)?;
                args[0].clone()
            }
            "display" | "newline" | "void" => Value::Unspecified,
            "_IO" => {
                arity(2, 2)?;
                let g = want_str(&args[0], name)?;
                let num = want_int(&args[1], name)?;
                let code = g.bytes().next().map_or(0, i64::from);
                Value::Int(num + 256 * code)
            }
            "path-ancestors" => {
                arity(1, 1)?;
                let p = want_str(&args[0], name)?;
                if !p.starts_with('/') && !p.starts_with("${") {
                    return err(span, "path must start with a /");
                }
                let mut ancestors = vec![Filter::Path(Matcher::Literal("/".into()))];
                let trimmed = p.trim_end_matches('/');
                for (i, _) in trimmed.match_indices('/').skip(1) {
                    ancestors.push(Filter::Path(Matcher::Literal(trimmed[..i].into())));
                }
                Value::Filter(Rc::new(Filter::Any(ancestors)))
            }
            _ => return err(span, format!("unbound variable: {name}")),
        };
        Ok(v)
    }

    /// Build a filter or modifier value.
    fn filter_ctor(&mut self, name: &str, args: Vec<Value>, span: Span) -> R<Value> {
        let v = self.filter_ctor_inner(name, args, span)?;
        if let Value::Filter(f) = &v {
            if filter_depth(f) > MAX_FILTER_DEPTH {
                return err(span, format!("expected filters nested at most {MAX_FILTER_DEPTH} deep"));
            }
        }
        Ok(v)
    }

    fn filter_ctor_inner(&mut self, name: &str, args: Vec<Value>, span: Span) -> R<Value> {
        let n = args.len();
        let want_filter = |v: &Value| -> R<Filter> {
            match v {
                Value::Filter(f) => Ok((**f).clone()),
                Value::Opaque(_) => Ok(Filter::Const(Tri::Unknown)),
                other => err(span, format!("`{name}` expected filters, found {}", other.type_name())),
            }
        };
        let f = match name {
            "with" => {
                let Some(Value::Sym(m)) = args.first() else { return err(span, "expected `(with MODIFIER [ARG])`") };
                let canonical = match &**m {
                    "no-log" => "no-report",
                    "no-profile" => "no-sandbox",
                    other => other,
                };
                if !MODIFIERS.contains(&&**m) {
                    return err(span, format!("unknown modifier `{m}` (expected one of: {})", MODIFIERS.join(", ")));
                }
                let arg = match args.get(1) {
                    Some(Value::Str(s)) => Some(s.to_string()),
                    Some(other @ (Value::Sym(_) | Value::Int(_))) => Some(show(other, &self.ops)),
                    Some(other) => return err(span, format!("`with {m}` expected a string, symbol or number, found {}", other.type_name())),
                    None => None,
                };
                if n > 2 {
                    return err(span, format!("`(with {m} ...)` takes at most one argument"));
                }
                if matches!(canonical, "message" | "send-signal") && arg.is_none() {
                    return err(span, format!("`(with {m} ...)` expected an argument"));
                }
                return Ok(Value::Modifier(Rc::new(Modifier { name: canonical.to_string(), arg })));
            }
            "require-all" | "require-any" => {
                if n == 0 {
                    return err(span, format!("`{name}` expected at least one filter"));
                }
                let fs: Vec<Filter> = args.iter().map(&want_filter).collect::<R<_>>()?;
                if name == "require-all" { Filter::All(fs) } else { Filter::Any(fs) }
            }
            "require-not" => {
                if n != 1 {
                    return err(span, "`require-not` expected exactly one filter");
                }
                Filter::Not(Box::new(want_filter(&args[0])?))
            }
            "local" | "remote" | "from" | "to" => self.network_filter(name, &args, span)?,
            "target" => {
                if n == 0 {
                    return err(span, "`target` expected a target: self, pgrp, others, children, same-sandbox or initproc");
                }
                let mut fs = Vec::new();
                for a in &args {
                    match a {
                        Value::Sym(s) if matches!(&**s, "self" | "pgrp" | "others" | "children" | "same-sandbox" | "initproc") => {
                            fs.push(Filter::Target(s.to_string()))
                        }
                        other => {
                            return err(span, format!("`target` expected self, pgrp, others, children, same-sandbox or initproc, found `{}`", show(other, &self.ops)))
                        }
                    }
                }
                Filter::any(fs)
            }
            "socket-domain" | "socket-type" | "socket-protocol" | "signal-number" => {
                if n == 0 {
                    return err(span, format!("`{name}` expected a value"));
                }
                let mut values = Vec::new();
                for a in &args {
                    let v = match a {
                        Value::Int(i) => Some(*i),
                        Value::Sym(s) => named_constant(s),
                        _ => None,
                    };
                    match v {
                        Some(v) => values.push(v),
                        None => return err(span, format!("`{name}` expected a number or a known constant, found `{}`", show(a, &self.ops))),
                    }
                }
                Filter::Number { filter: name.to_string(), values }
            }
            "tty" => Filter::Opaque { filter: "vnode-type".into(), text: "(vnode-type TTY)".into() },
            _ => {
                let (base, kind) = split_filter_name(name);
                if is_path_filter(name) {
                    if n == 0 {
                        return err(span, format!("`{name}` expected at least one path"));
                    }
                    let mut fs = Vec::new();
                    for a in &args {
                        let s = match a {
                            Value::Str(s) => s.clone(),
                            other => {
                                return err(span, format!("invalid data type of path filter; expected pattern, got {} (`{name}`)", other.type_name()))
                            }
                        };
                        let m = match name {
                            "literal" | "path" | "path-literal" => Matcher::Literal(s.to_string()),
                            "subpath" => Matcher::Subpath(s.to_string()),
                            "prefix" | "path-prefix" => Matcher::Prefix(s.to_string()),
                            _ => Matcher::Regex(Pattern::new(&s).map_err(|m| EvalError { span, message: m, too_deep: false })?),
                        };
                        fs.push(Filter::Path(m));
                    }
                    Filter::any(fs)
                } else if NAME_FILTERS.contains(&base) || base == "iokit-user-client-class" {
                    let base = if base == "iokit-user-client-class" { "iokit-registry-entry-class" } else { base };
                    if n == 0 {
                        return err(span, format!("`{name}` expected at least one string"));
                    }
                    let mut fs = Vec::new();
                    for a in &args {
                        let Value::Str(s) = a else {
                            return err(span, format!("`{name}` expected a string, found {}", a.type_name()));
                        };
                        let m = match kind {
                            FilterKind::Exact => Matcher::Literal(s.to_string()),
                            FilterKind::Prefix => Matcher::Prefix(s.to_string()),
                            FilterKind::Regex => Matcher::Regex(Pattern::new(s).map_err(|m| EvalError { span, message: m, too_deep: false })?),
                            FilterKind::Subpath => Matcher::Subpath(s.to_string()),
                        };
                        fs.push(Filter::Name { filter: base.to_string(), matcher: m });
                    }
                    Filter::any(fs)
                } else {
                    // Opaque filters still validate regexes so bad profiles fail as on macOS.
                    if kind == FilterKind::Regex {
                        for a in &args {
                            if let Value::Str(s) = a {
                                Pattern::new(s).map_err(|m| EvalError { span, message: m, too_deep: false })?;
                            }
                        }
                    }
                    let text = format!("({name}{})", args.iter().map(|a| format!(" {}", show(a, &self.ops))).collect::<String>());
                    Filter::Opaque { filter: base.to_string(), text }
                }
            }
        };
        Ok(Value::Filter(Rc::new(f)))
    }

    fn network_filter(&mut self, name: &str, args: &[Value], span: Span) -> R<Filter> {
        let scope = if matches!(name, "local" | "from") { Scope::Local } else { Scope::Remote };
        let Some(Value::Sym(proto)) = args.first() else {
            return err(span, format!("`{name}` expected a protocol: ip, ip4, ip6, tcp, tcp4, tcp6, udp, udp4, udp6 or unix-socket"));
        };
        match &**proto {
            "unix" | "unix-socket" => {
                let path = match args.get(1) {
                    None => None,
                    Some(Value::Filter(f)) => Some(Box::new((**f).clone())),
                    Some(Value::Str(s)) => Some(Box::new(Filter::Path(Matcher::Literal(s.to_string())))),
                    Some(Value::Opaque(_)) => Some(Box::new(Filter::Const(Tri::Unknown))),
                    Some(other) => return err(span, format!("`({name} unix-socket ...)` expected a path filter, found {}", other.type_name())),
                };
                if args.len() > 2 {
                    let mut fs = Vec::new();
                    for a in &args[1..] {
                        match a {
                            Value::Filter(f) => fs.push(Filter::UnixSocket { scope, path: Some(Box::new((**f).clone())) }),
                            other => return err(span, format!("`({name} unix-socket ...)` expected path filters, found {}", other.type_name())),
                        }
                    }
                    return Ok(Filter::Any(fs));
                }
                Ok(Filter::UnixSocket { scope, path })
            }
            "ip" | "ip4" | "ip6" | "tcp" | "tcp4" | "tcp6" | "udp" | "udp4" | "udp6" => {
                let proto = NetProto(proto.to_string());
                if args.len() == 1 {
                    return Ok(Filter::Network { scope, proto, host: None, port: None });
                }
                let mut fs = Vec::new();
                for a in &args[1..] {
                    let Value::Str(addr) = a else {
                        return err(span, format!("`{name}` expected an address string \"HOST:PORT\", found {}", a.type_name()));
                    };
                    let Some((host, port)) = addr.rsplit_once(':') else {
                        return err(span, format!("expected an address \"HOST:PORT\" (HOST `*` or `localhost`, PORT `*` or a number), found {}", super::render::quote(addr)));
                    };
                    if host != "*" && host != "localhost" {
                        return err(span, format!("host must be `*` or `localhost` in network address {} (Seatbelt rejects IP addresses and names)", super::render::quote(addr)));
                    }
                    let port = if port == "*" {
                        None
                    } else {
                        match port.parse::<u16>() {
                            Ok(p) => Some(p),
                            Err(_) => return err(span, format!("expected a port number or `*` in network address {}", super::render::quote(addr))),
                        }
                    };
                    let host = if host == "*" { None } else { Some(host.to_string()) };
                    fs.push(Filter::Network { scope, proto: proto.clone(), host, port });
                }
                Ok(Filter::any(fs))
            }
            other => err(span, format!("`{name}` expected a protocol: ip, ip4, ip6, tcp, tcp4, tcp6, udp, udp4, udp6 or unix-socket, found `{other}`")),
        }
    }

    /// `(allow|deny ARGS...)`: classify arguments (operations, filters, modifiers, in any order).
    fn rule(&mut self, action: Action, args: Vec<Value>, span: Span) -> R<Value> {
        let mut ops: Vec<OpId> = self.with_ops.clone();
        let mut filters: Vec<Filter> = Vec::new();
        let mut modifiers = Modifiers::default();
        let mut seen_mods: Vec<String> = Vec::new();
        let mut add_mod = |m: &Modifier, seen: &mut Vec<String>, from_with: bool| -> R<()> {
            if !from_with && seen.contains(&m.name) {
                return err(span, format!("{} modifier can only appear once per rule", m.name));
            }
            seen.push(m.name.clone());
            match m.name.as_str() {
                "report" => modifiers.report = true,
                "no-report" => modifiers.no_report = true,
                "message" => modifiers.message = m.arg.clone(),
                "send-signal" => modifiers.send_signal = m.arg.clone(),
                "termination" => modifiers.send_signal = Some("SIGKILL".into()),
                "no-sandbox" => modifiers.no_sandbox = true,
                other => modifiers.other.push(other.to_string()),
            }
            Ok(())
        };
        for m in self.with_modifiers.clone() {
            add_mod(&m, &mut seen_mods, true)?;
        }
        for a in &args {
            match a {
                Value::Op(o) => ops.push(*o),
                Value::Filter(f) => filters.push((**f).clone()),
                Value::Modifier(m) => add_mod(m, &mut seen_mods, false)?,
                Value::Opaque(_) => filters.push(Filter::Const(Tri::Unknown)),
                other => {
                    return err(
                        span,
                        format!(
                            "expected an operation, filter or modifier in `({} ...)`, found {} `{}`",
                            action.as_str(),
                            other.type_name(),
                            show(other, &self.ops)
                        ),
                    )
                }
            }
        }
        if ops.is_empty() {
            return err(span, "at least one operation required");
        }
        if modifiers.report && action == Action::Deny {
            return err(span, "report modifier does not apply to deny action");
        }
        if modifiers.no_report && action == Action::Allow {
            return err(span, "no-report modifier does not apply to allow action");
        }
        let mut filter = if filters.is_empty() { None } else { Some(Filter::any(filters)) };
        if !self.with_filters.is_empty() {
            let mut all = self.with_filters.clone();
            if let Some(f) = filter.take() {
                all.push(f);
            }
            filter = Some(if all.len() == 1 { all.pop().unwrap_or(Filter::Const(Tri::True)) } else { Filter::All(all) });
        }
        let mut seen = Vec::new();
        ops.retain(|o| if seen.contains(o) { false } else { seen.push(*o); true });
        self.rules.push(RawRule { action, ops, filter, modifiers, span });
        Ok(Value::Unspecified)
    }
}

fn filter_depth(f: &Filter) -> usize {
    match f {
        Filter::Any(fs) | Filter::All(fs) => 1 + fs.iter().map(filter_depth).max().unwrap_or(0),
        Filter::Not(f) => 1 + filter_depth(f),
        Filter::UnixSocket { path: Some(p), .. } => 1 + filter_depth(p),
        _ => 1,
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum FilterKind {
    Exact,
    Prefix,
    Regex,
    Subpath,
}

/// `global-name-prefix` -> (`global-name`, Prefix).
fn split_filter_name(name: &str) -> (&str, FilterKind) {
    if let Some(b) = name.strip_suffix("-prefix") {
        (b, FilterKind::Prefix)
    } else if let Some(b) = name.strip_suffix("-regex") {
        (b, FilterKind::Regex)
    } else if let Some(b) = name.strip_suffix("-subpath") {
        (b, FilterKind::Subpath)
    } else {
        (name, FilterKind::Exact)
    }
}

fn is_path_filter(name: &str) -> bool {
    matches!(name, "path" | "literal" | "path-literal" | "subpath" | "prefix" | "path-prefix" | "regex" | "path-regex")
}

fn is_filter_name(name: &str) -> bool {
    if is_path_filter(name) {
        return true;
    }
    let (base, kind) = split_filter_name(name);
    let string_like = |b: &str| NAME_FILTERS.contains(&b) || b == "iokit-user-client-class" || OPAQUE_FILTERS.contains(&b);
    match kind {
        FilterKind::Exact => {
            string_like(base)
                || matches!(base, "local" | "remote" | "from" | "to" | "target" | "socket-domain" | "socket-type" | "socket-protocol" | "signal-number" | "tty")
        }
        FilterKind::Subpath => matches!(base, "process" | "mount-relative"),
        _ => string_like(base) || matches!(base, "process-path" | "mount-relative-path" | "xattr"),
    }
}

/// Procedures whose arguments may be bare constant names (`(with report)`, `(target self)`,
/// `(vnode-type DIRECTORY)`, `(remote ip)`, `(socket-domain AF_UNIX)`).
fn takes_constants(name: &str) -> bool {
    matches!(
        name,
        "with" | "target" | "socket-domain" | "socket-type" | "socket-protocol" | "signal-number" | "local" | "remote" | "from" | "to"
    ) || OPAQUE_FILTERS.contains(&split_filter_name(name).0)
}

fn is_builtin(name: &str) -> bool {
    BUILTINS.contains(&name) || is_filter_name(name)
}

fn symbols(items: &[Sexp], span: Span) -> R<Vec<Rc<str>>> {
    items
        .iter()
        .map(|s| match symbol_of(s) {
            Some(n) => Ok(Rc::from(n)),
            None => err(if s.span == Span::default() { span } else { s.span }, "expected a parameter name"),
        })
        .collect()
}

/// Named integer constants of `socket-domain`, `socket-type`, `signal-number` (macOS values).
fn named_constant(name: &str) -> Option<i64> {
    Some(match name {
        "AF_UNSPEC" => 0,
        "AF_UNIX" | "AF_LOCAL" => 1,
        "AF_INET" => 2,
        "AF_ROUTE" => 17,
        "AF_LINK" => 18,
        "AF_NDRV" => 27,
        "AF_INET6" => 30,
        "AF_SYSTEM" => 32,
        "AF_MULTIPATH" => 39,
        "SOCK_STREAM" => 1,
        "SOCK_DGRAM" => 2,
        "SOCK_RAW" => 3,
        "SOCK_RDM" => 4,
        "SOCK_SEQPACKET" => 5,
        "SIGHUP" => 1,
        "SIGINT" => 2,
        "SIGQUIT" => 3,
        "SIGILL" => 4,
        "SIGTRAP" => 5,
        "SIGABRT" => 6,
        "SIGEMT" => 7,
        "SIGFPE" => 8,
        "SIGKILL" => 9,
        "SIGBUS" => 10,
        "SIGSEGV" => 11,
        "SIGSYS" => 12,
        "SIGPIPE" => 13,
        "SIGALRM" => 14,
        "SIGTERM" => 15,
        "SIGURG" => 16,
        "SIGSTOP" => 17,
        "SIGTSTP" => 18,
        "SIGCONT" => 19,
        "SIGCHLD" => 20,
        "SIGTTIN" => 21,
        "SIGTTOU" => 22,
        "SIGIO" => 23,
        "SIGXCPU" => 24,
        "SIGXFSZ" => 25,
        "SIGVTALRM" => 26,
        "SIGPROF" => 27,
        "SIGWINCH" => 28,
        "SIGINFO" => 29,
        "SIGUSR1" => 30,
        "SIGUSR2" => 31,
        "IPPROTO_IP" => 0,
        "IPPROTO_ICMP" => 1,
        "IPPROTO_TCP" => 6,
        "IPPROTO_UDP" => 17,
        "IPPROTO_ICMPV6" => 58,
        "SYSPROTO_EVENT" => 1,
        "SYSPROTO_CONTROL" => 2,
        _ => return None,
    })
}

fn eqv(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Nil, Value::Nil) | (Value::Unspecified, Value::Unspecified) => true,
        (Value::Bool(x), Value::Bool(y)) => x == y,
        (Value::Int(x), Value::Int(y)) => x == y,
        (Value::Char(x), Value::Char(y)) => x == y,
        (Value::Sym(x), Value::Sym(y)) => x == y,
        (Value::Op(x), Value::Op(y)) => x == y,
        (Value::Str(x), Value::Str(y)) => Rc::ptr_eq(x, y),
        (Value::Pair(x), Value::Pair(y)) => Rc::ptr_eq(x, y),
        (Value::Lambda(x), Value::Lambda(y)) => Rc::ptr_eq(x, y),
        (Value::Builtin(x), Value::Builtin(y)) => x == y,
        _ => false,
    }
}

fn equal(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Str(x), Value::Str(y)) => x == y,
        (Value::Pair(x), Value::Pair(y)) => equal(&x.0, &y.0) && equal(&x.1, &y.1),
        _ => eqv(a, b),
    }
}

/// Quoted data.
fn sexp_to_value(s: &Sexp) -> Value {
    match &s.kind {
        SexpKind::List(items) => Value::list(items.iter().map(sexp_to_value).collect()),
        SexpKind::Dotted(items, tail) => {
            let mut v = sexp_to_value(tail);
            for item in items.iter().rev() {
                v = Value::Pair(Rc::new((sexp_to_value(item), v)));
            }
            v
        }
        SexpKind::Symbol(n) => Value::Sym(n.clone()),
        SexpKind::Str(x) => Value::Str(x.clone()),
        SexpKind::Int(n) => Value::Int(*n),
        SexpKind::Bool(b) => Value::Bool(*b),
        SexpKind::Char(c) => Value::Char(*c),
    }
}

/// A macro's expansion back to code; every node gets the span of the macro call.
fn value_to_sexp(v: &Value, span: Span, ops: &Operations) -> Result<Sexp, String> {
    let kind = match v {
        Value::Nil => SexpKind::List(Vec::new()),
        Value::Pair(_) => {
            let mut items = Vec::new();
            let mut cur = v.clone();
            loop {
                match cur {
                    Value::Pair(p) => {
                        items.push(value_to_sexp(&p.0, span, ops)?);
                        cur = p.1.clone();
                    }
                    Value::Nil => break SexpKind::List(items),
                    other => break SexpKind::Dotted(items, Box::new(value_to_sexp(&other, span, ops)?)),
                }
            }
        }
        Value::Sym(n) => SexpKind::Symbol(n.clone()),
        Value::Str(s) => SexpKind::Str(s.clone()),
        Value::Int(n) => SexpKind::Int(*n),
        Value::Bool(b) => SexpKind::Bool(*b),
        Value::Char(c) => SexpKind::Char(*c),
        // `(if #f ...)` in a macro body expands to nothing to do.
        Value::Unspecified => SexpKind::List(vec![Sexp { kind: SexpKind::Symbol("void".into()), span }]),
        Value::Op(o) => SexpKind::Symbol(ops.name(*o).into()),
        other => return Err(format!("expected a macro to expand to code, found {}", other.type_name())),
    };
    Ok(Sexp { kind, span })
}
