//! CEL attribute expressions and `matchPolicy` predicates (pipeline spec §2.4).
//!
//! * One variable, `object`: the Kubernetes object as a map (JSON integers are `int`, every
//!   other number `double`).
//! * The CEL standard library only, as cel-go offers it by default: operators, `size`,
//!   `contains`, `startsWith`, `endsWith`, `matches`, conversions, timestamp and duration
//!   accessors, and the macros `has`, `all`, `exists`, `exists_one`, `map`, `filter`. Other
//!   functions are refused at compile time so profiles stay portable.
//! * Bounded cost, checked before every evaluation: CEL has no loops besides comprehensions, so
//!   the work is at most `(W·k)^d × n × (1 + L/256)`, where `W` bounds every list (object nodes
//!   plus literal elements), `k` the growth by concatenation (one plus the number of `+`), `d`
//!   the nesting of independent comprehensions, `n` the expression size and `L` the longest
//!   string (a step touches at most one string). An evaluation whose bound exceeds [`MAX_COST`]
//!   fails before it starts. The interpreter cannot be interrupted, so this bound is also the
//!   per-evaluation time bound (ADR 0005).
//! * Results: maps and lists become JSON objects and arrays (DECISIONS Q4), timestamps RFC 3339
//!   strings, durations integer nanoseconds, bytes base64, NaN and infinities `null` with a
//!   warning.

use std::{
    collections::HashMap,
    fmt,
    fmt::Write as _,
    sync::{Arc, OnceLock},
};

use base64::Engine as _;
use cel::{
    Context, Env, Program, Value as CelValue,
    common::ast::{Expr, IdedExpr, LiteralValue, operators},
    common::value::{CowVal, Val},
    context::VariableResolver,
    objects::{Key, Map as CelMap},
};
use serde_json::{Map, Number, Value};

/// Most evaluation steps an expression may be estimated to take on one object (about 50 ms of
/// work): far above any realistic profile, far below a stalled watch.
pub const MAX_COST: u128 = 20_000_000;

/// Longest CEL expression accepted; keeps parsing and cost estimation cheap.
pub const MAX_EXPRESSION_LENGTH: usize = 10_000;

/// Deepest expression tree (and bracket nesting) accepted. Evaluation recurses once per level
/// on the caller's stack; 48 levels fit a 2 MiB thread even in a debug build, and realistic
/// profiles stay below 15.
pub const MAX_DEPTH: usize = 48;

/// Stack of the compiler thread: the generated parser takes up to ~150 KiB per bracket level
/// in debug builds and recurses once per chained member.
const COMPILE_STACK_BYTES: usize = 256 << 20;

/// Functions and operators of the CEL standard library that expressions may call.
const ALLOWED_FUNCTIONS: [&str; 45] = [
    operators::CONDITIONAL,
    operators::LOGICAL_AND,
    operators::LOGICAL_OR,
    operators::LOGICAL_NOT,
    operators::SUBSTRACT,
    operators::ADD,
    operators::MULTIPLY,
    operators::DIVIDE,
    operators::MODULO,
    operators::EQUALS,
    operators::NOT_EQUALS,
    operators::GREATER_EQUALS,
    operators::LESS_EQUALS,
    operators::GREATER,
    operators::LESS,
    operators::NEGATE,
    operators::INDEX,
    operators::NOT_STRICTLY_FALSE,
    operators::IN,
    "size",
    "contains",
    "startsWith",
    "endsWith",
    "matches",
    "int",
    "uint",
    "double",
    "string",
    "bytes",
    "bool",
    "dyn",
    "type",
    "timestamp",
    "duration",
    "getFullYear",
    "getMonth",
    "getDayOfYear",
    "getDayOfMonth",
    "getDate",
    "getDayOfWeek",
    "getHours",
    "getMinutes",
    "getSeconds",
    "getMilliseconds",
    "has",
];

/// The name of the one variable.
const OBJECT: &str = "object";

/// Why an expression does not compile.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum CompileError {
    /// The text is empty.
    #[error("empty CEL expression")]
    Empty,
    /// The text is too long.
    #[error("the CEL expression is {0} characters long; the limit is {MAX_EXPRESSION_LENGTH}")]
    TooLong(usize),
    /// Brackets nest, or operators and members chain, deeper than the interpreter can
    /// evaluate without exhausting its stack.
    #[error(
        "the CEL expression nests {0} levels deep; the limit is {MAX_DEPTH} (split long \
         chains of operators or members, or nest fewer brackets)"
    )]
    TooDeep(usize),
    /// A syntax error.
    #[error("compile CEL: {message} at column {column}")]
    Syntax {
        /// What the parser says.
        message: String,
        /// 1-based column in the expression.
        column: usize,
    },
    /// A function outside the standard library.
    #[error(
        "compile CEL: function {0:?} is not part of the CEL standard library Kollect supports \
         (operators, size, contains, startsWith, endsWith, matches, conversions, timestamp and \
         duration accessors, has/all/exists/exists_one/map/filter)"
    )]
    UnsupportedFunction(String),
    /// A variable other than `object`.
    #[error("compile CEL: unknown variable {0:?}; the only variable is `object`")]
    UnknownVariable(String),
}

/// Why an evaluation failed.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
pub enum EvalError {
    /// CEL reported an error (missing key, bad types, overflow...).
    #[error("eval CEL: {0}")]
    Failed(String),
    /// The estimated cost on this object exceeds [`MAX_COST`].
    #[error(
        "eval CEL: the expression would take up to {estimate} steps on this object (limit \
         {MAX_COST}); nested comprehensions over large lists are too costly"
    )]
    TooCostly {
        /// The estimate.
        estimate: u128,
    },
    /// A predicate returned something other than a boolean.
    #[error("eval CEL: the predicate returned {0}, not a boolean")]
    NotBoolean(String),
}

/// Which parts of `object` an expression reads.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum References {
    /// The whole object (e.g. `size(object)` or an index computed at run time).
    Whole,
    /// Only these paths (each a list of map keys from the root); their subtrees are read whole.
    Paths(Vec<Vec<String>>),
}

/// A compiled CEL expression.
#[derive(Clone)]
pub struct CelExpr {
    source: String,
    /// The program as compiled, with every single-variable comprehension iterating in a fixed
    /// order ([`ordered_ranges`]).
    expression: Arc<IdedExpr>,
    references: References,
    depth: u32,
    size: u32,
    literal_elements: u64,
    /// One plus the number of `+` operators: how much concatenation can grow a list.
    growth: u32,
    /// The longest string literal, in bytes.
    literal_bytes: u64,
}

impl fmt::Debug for CelExpr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CelExpr")
            .field("source", &self.source)
            .field("depth", &self.depth)
            .finish_non_exhaustive()
    }
}

/// The result of an evaluation.
#[derive(Clone, Debug, PartialEq)]
pub struct Output {
    /// The value, `None` for CEL `null`.
    pub value: Option<Value>,
    /// Set when a NaN or infinite float was replaced by `null` (DECISIONS Q4).
    pub non_finite: bool,
}

impl CelExpr {
    /// Compiles an expression (without the `cel:` prefix).
    pub fn compile(source: &str) -> Result<Self, CompileError> {
        let source = source.trim();
        if source.is_empty() {
            return Err(CompileError::Empty);
        }
        if source.chars().count() > MAX_EXPRESSION_LENGTH {
            return Err(CompileError::TooLong(source.chars().count()));
        }
        let nesting = bracket_nesting(source);
        if nesting > MAX_DEPTH {
            return Err(CompileError::TooDeep(nesting));
        }
        // The parser and our analyses recurse once per chained operator or member; on a
        // thread of its own with a large stack, no expression within the length limit can
        // exhaust it. Compiling is rare (once per profile generation), so the thread is cheap.
        std::thread::scope(|scope| {
            std::thread::Builder::new()
                .name("cel-compile".to_owned())
                .stack_size(COMPILE_STACK_BYTES)
                .spawn_scoped(scope, || Self::compile_on_this_thread(source))
                .map_err(|e| CompileError::Syntax {
                    message: format!("cannot start the compiler thread: {e}"),
                    column: 1,
                })?
                .join()
                .unwrap_or_else(|_| {
                    Err(CompileError::Syntax {
                        message: "the CEL compiler failed on this expression".to_owned(),
                        column: 1,
                    })
                })
        })
    }

    fn compile_on_this_thread(source: &str) -> Result<Self, CompileError> {
        let program = Program::compile(source).map_err(|errors| {
            let first = errors.errors.first();
            CompileError::Syntax {
                message: first.map_or_else(|| "invalid expression".to_owned(), |e| e.msg.clone()),
                column: first.map_or(1, |e| usize::try_from(e.pos.1).unwrap_or(0) + 1),
            }
        })?;
        let root = program.expression();
        let depth = ast_depth(root);
        if depth > MAX_DEPTH {
            return Err(CompileError::TooDeep(depth));
        }
        check_calls(root, &mut vec![OBJECT.to_owned()])?;
        let mut references = Vec::new();
        let whole = !collect_references(root, &mut Vec::new(), &mut references);
        let references = if whole {
            References::Whole
        } else {
            References::Paths(references)
        };
        let (depth, size, literal_elements) = shape(root, &[]);
        let (pluses, literal_bytes) = operators_and_strings(root);
        let mut expression = program.expression().clone();
        ordered_ranges(&mut expression);
        Ok(Self {
            source: source.to_owned(),
            expression: Arc::new(expression),
            references,
            depth,
            size,
            literal_elements,
            growth: pluses + 1,
            literal_bytes,
        })
    }

    /// The expression as written (trimmed).
    pub fn source(&self) -> &str {
        &self.source
    }

    /// The parts of `object` the expression reads.
    pub fn references(&self) -> &References {
        &self.references
    }

    /// Evaluates with `object` bound to `object`.
    pub fn evaluate(&self, object: &Value) -> Result<Output, EvalError> {
        self.evaluate_input(&Input::new(object))
    }

    /// Evaluates on an object converted once for several expressions.
    pub fn evaluate_input(&self, input: &Input) -> Result<Output, EvalError> {
        self.check_cost(&input.measure)?;
        let result = self.execute(input)?;
        let mut non_finite = false;
        let value = from_cel(&result, &mut non_finite);
        Ok(Output {
            value: (!value.is_null()).then_some(value),
            non_finite,
        })
    }

    /// Evaluates a predicate (`matchPolicy`): it must return a boolean, or a string CEL's
    /// `bool()` converts (`"true"`, `"f"`, `"1"`, … as Go's `strconv.ParseBool`); anything else
    /// is an error (pipeline spec §2.9.4, FLT-15).
    pub fn evaluate_bool(&self, object: &Value) -> Result<bool, EvalError> {
        let measure = Measure::of(object);
        self.check_cost(&measure)?;
        match self.execute(&Input::measured(object, measure))? {
            CelValue::Bool(flag) => Ok(flag),
            CelValue::String(text) => match text.as_str() {
                "1" | "t" | "T" | "true" | "TRUE" | "True" => Ok(true),
                "0" | "f" | "F" | "false" | "FALSE" | "False" => Ok(false),
                _ => Err(EvalError::NotBoolean(format!("string {text:?}"))),
            },
            other => Err(EvalError::NotBoolean(format!("{:?}", other.type_of()))),
        }
    }

    /// Runs the program with `object` resolved to the converted input. The standard-library
    /// environment is built once per process; the input is borrowed, never converted again.
    fn execute(&self, input: &Input) -> Result<CelValue, EvalError> {
        static ENV: OnceLock<Arc<Env>> = OnceLock::new();
        let value = input.value.as_ref().map_err(Clone::clone)?;
        let resolver = ObjectResolver(value.as_ref());
        let mut context =
            Context::with_env(Arc::clone(ENV.get_or_init(|| Arc::new(Env::stdlib()))));
        context.set_variable_resolver(&resolver);
        context
            .add_function(ORDERED, ordered)
            .map_err(|e| EvalError::Failed(e.to_string()))?;
        CelValue::resolve(&self.expression, &context).map_err(|e| EvalError::Failed(e.to_string()))
    }

    /// The work bound of this expression on `object` (see the module docs).
    pub fn cost(&self, object: &Value) -> u128 {
        self.cost_of(&Measure::of(object))
    }

    fn cost_of(&self, measure: &Measure) -> u128 {
        let width = (u128::from(measure.nodes) + u128::from(self.literal_elements) + 1)
            * u128::from(self.growth);
        let longest = u128::from(measure.longest_string.max(self.literal_bytes));
        width
            .checked_pow(self.depth)
            .and_then(|w| w.checked_mul(u128::from(self.size)))
            .and_then(|w| w.checked_mul(1 + longest / 256))
            .unwrap_or(u128::MAX)
    }

    fn check_cost(&self, measure: &Measure) -> Result<(), EvalError> {
        let estimate = self.cost_of(measure);
        if estimate > MAX_COST {
            return Err(EvalError::TooCostly { estimate });
        }
        Ok(())
    }
}

/// Refuses calls outside the standard library and variables other than `object` and the
/// comprehension variables in scope.
fn check_calls(node: &IdedExpr, scope: &mut Vec<String>) -> Result<(), CompileError> {
    match &node.expr {
        Expr::Call(call) => {
            if !ALLOWED_FUNCTIONS.contains(&call.func_name.as_str()) {
                return Err(CompileError::UnsupportedFunction(call.func_name.clone()));
            }
            if let Some(target) = &call.target {
                check_calls(target, scope)?;
            }
            call.args.iter().try_for_each(|arg| check_calls(arg, scope))
        }
        Expr::Ident(name) => {
            if scope.iter().any(|s| s == name) {
                Ok(())
            } else {
                Err(CompileError::UnknownVariable(name.clone()))
            }
        }
        Expr::Select(select) => check_calls(&select.operand, scope),
        Expr::List(list) => list.elements.iter().try_for_each(|e| check_calls(e, scope)),
        Expr::Map(map) => map.entries.iter().try_for_each(|entry| match &entry.expr {
            cel::common::ast::EntryExpr::MapEntry(e) => {
                check_calls(&e.key, scope)?;
                check_calls(&e.value, scope)
            }
            cel::common::ast::EntryExpr::StructField(f) => check_calls(&f.value, scope),
        }),
        Expr::Struct(_) => Err(CompileError::UnsupportedFunction(
            "message construction".to_owned(),
        )),
        Expr::Comprehension(c) => {
            check_calls(&c.iter_range, scope)?;
            check_calls(&c.accu_init, scope)?;
            let pushed = 2 + usize::from(c.iter_var2.is_some());
            scope.push(c.iter_var.clone());
            scope.push(c.accu_var.clone());
            if let Some(second) = &c.iter_var2 {
                scope.push(second.clone());
            }
            let result = [&c.loop_cond, &c.loop_step, &c.result]
                .into_iter()
                .try_for_each(|e| check_calls(e, scope));
            scope.truncate(scope.len() - pushed);
            result
        }
        Expr::Literal(_) | Expr::Unspecified => Ok(()),
    }
}

/// Collects the `object.a.b` chains an expression reads; returns false when it reads `object`
/// in a way that cannot be bounded (the whole object is then needed).
fn collect_references(
    node: &IdedExpr,
    shadowed: &mut Vec<String>,
    out: &mut Vec<Vec<String>>,
) -> bool {
    if let Some(path) = object_chain(node, shadowed) {
        if path.is_empty() {
            return false;
        }
        out.push(path);
        return true;
    }
    match &node.expr {
        Expr::Call(call) => {
            call.target
                .as_deref()
                .is_none_or(|t| collect_references(t, shadowed, out))
                && call
                    .args
                    .iter()
                    .all(|a| collect_references(a, shadowed, out))
        }
        Expr::Select(select) => collect_references(&select.operand, shadowed, out),
        Expr::List(list) => list
            .elements
            .iter()
            .all(|e| collect_references(e, shadowed, out)),
        Expr::Map(map) => map.entries.iter().all(|entry| match &entry.expr {
            cel::common::ast::EntryExpr::MapEntry(e) => {
                collect_references(&e.key, shadowed, out)
                    && collect_references(&e.value, shadowed, out)
            }
            cel::common::ast::EntryExpr::StructField(f) => {
                collect_references(&f.value, shadowed, out)
            }
        }),
        Expr::Comprehension(c) => {
            let range = collect_references(&c.iter_range, shadowed, out)
                && collect_references(&c.accu_init, shadowed, out);
            let mut inner = shadowed.clone();
            inner.push(c.iter_var.clone());
            inner.push(c.accu_var.clone());
            inner.extend(c.iter_var2.clone());
            range
                && [&c.loop_cond, &c.loop_step, &c.result]
                    .into_iter()
                    .all(|e| collect_references(e, &mut inner, out))
        }
        Expr::Ident(_) | Expr::Literal(_) | Expr::Struct(_) | Expr::Unspecified => true,
    }
}

/// `object.a.b` / `object.a['b']` as `[a, b]`; `[]` for a bare `object`; `None` when the node is
/// not such a chain. A list index or computed key ends the chain: the collection is read whole.
fn object_chain(node: &IdedExpr, shadowed: &[String]) -> Option<Vec<String>> {
    chain(node, shadowed).map(|(path, _)| path)
}

/// The chain and whether it is still open (more selects extend it).
fn chain(node: &IdedExpr, shadowed: &[String]) -> Option<(Vec<String>, bool)> {
    match &node.expr {
        Expr::Ident(name) if name == OBJECT && !shadowed.iter().any(|s| s == OBJECT) => {
            Some((Vec::new(), true))
        }
        Expr::Select(select) => {
            let (mut path, open) = chain(&select.operand, shadowed)?;
            if open {
                path.push(select.field.clone());
            }
            Some((path, open))
        }
        Expr::Call(call) if call.func_name == operators::INDEX && call.args.len() == 2 => {
            let (mut path, open) = chain(&call.args[0], shadowed)?;
            match &call.args[1].expr {
                Expr::Literal(LiteralValue::String(key)) if open => {
                    path.push(key.inner().to_owned());
                    Some((path, true))
                }
                _ if path.is_empty() => None,
                _ => Some((path, false)),
            }
        }
        _ => None,
    }
}

/// `(comprehension depth, node count, literal list/map elements)` of an expression.
///
/// A comprehension whose range is a path under the variable of an enclosing comprehension that
/// itself ranges over a path ("plain" variables, in `loop_vars`) iterates over parts of distinct
/// subtrees of the object, so all its iterations together visit at most `W` elements and it adds
/// no depth. Any other range (a computed list, a path under a computed element, which may repeat
/// subtrees) counts one level.
fn shape(node: &IdedExpr, loop_vars: &[String]) -> (u32, u32, u64) {
    let children = match &node.expr {
        Expr::Comprehension(c) => {
            let dependent = rooted_at(&c.iter_range, loop_vars);
            let plain = dependent || rooted_at(&c.iter_range, &[OBJECT.to_owned()]);
            let (range_depth, range_size, range_literals) = shape(&c.iter_range, loop_vars);
            // The comprehension's variables shadow outer ones; they are plain only over a path.
            let declared = [Some(&c.iter_var), c.iter_var2.as_ref()];
            let mut inner: Vec<String> = loop_vars
                .iter()
                .filter(|v| !declared.contains(&Some(v)))
                .cloned()
                .collect();
            if plain {
                inner.push(c.iter_var.clone());
                inner.extend(c.iter_var2.clone());
            }
            let mut depth = range_depth;
            let mut size = range_size + 1;
            let mut literals = range_literals;
            for part in [&c.accu_init, &c.loop_cond, &c.loop_step, &c.result] {
                let (d, s, l) = shape(part, &inner);
                depth = depth.max(d + u32::from(!dependent));
                size += s;
                literals += l;
            }
            return (depth, size, literals);
        }
        _ => children(node),
    };
    let own_literals = match &node.expr {
        Expr::List(list) => list.elements.len() as u64,
        Expr::Map(map) => map.entries.len() as u64,
        _ => 0,
    };
    children
        .into_iter()
        .fold((0, 1, own_literals), |(d, s, l), child| {
            let (cd, cs, cl) = shape(child, loop_vars);
            (d.max(cd), s + cs, l + cl)
        })
}

/// Whether an expression is a select chain rooted at one of `vars`.
fn rooted_at(node: &IdedExpr, vars: &[String]) -> bool {
    match &node.expr {
        Expr::Ident(name) => vars.iter().any(|v| v == name),
        Expr::Select(select) => rooted_at(&select.operand, vars),
        Expr::Call(call) if call.func_name == operators::INDEX && call.args.len() == 2 => {
            rooted_at(&call.args[0], vars)
        }
        _ => false,
    }
}

/// Deepest bracket nesting outside string literals (a lexical bound checked before parsing,
/// since the generated parser recurses through every precedence level per bracket).
fn bracket_nesting(source: &str) -> usize {
    let mut depth = 0usize;
    let mut deepest = 0usize;
    let mut quote: Option<char> = None;
    let mut escaped = false;
    for c in source.chars() {
        if let Some(q) = quote {
            if escaped {
                escaped = false;
            } else if c == '\\' {
                escaped = true;
            } else if c == q {
                quote = None;
            }
            continue;
        }
        match c {
            '\'' | '"' => quote = Some(c),
            '(' | '[' | '{' => {
                depth += 1;
                deepest = deepest.max(depth);
            }
            ')' | ']' | '}' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    deepest
}

/// The direct subexpressions of a node.
/// The function wrapped around comprehension ranges; `@` keeps it out of what users can call.
const ORDERED: &str = "@kollect.ordered";

/// Makes iteration deterministic. CEL iterates a map over its keys, and the interpreter keeps
/// maps in hash maps with a random seed: `object.data.map(k, k)` would list the keys in a
/// different order on every evaluation, and every digest built on it would change each time.
/// Every single-variable comprehension (`all`, `exists`, `exists_one`, `map`, `filter`) therefore
/// iterates `@kollect.ordered(range)` instead: a list unchanged, a map's keys sorted. Two-variable
/// comprehensions (key and value) are left alone.
fn ordered_ranges(root: &mut IdedExpr) {
    let mut stack = vec![root];
    while let Some(node) = stack.pop() {
        if let Expr::Comprehension(comprehension) = &mut node.expr
            && comprehension.iter_var2.is_none()
        {
            let range = std::mem::take(&mut comprehension.iter_range);
            comprehension.iter_range = IdedExpr {
                id: range.id,
                expr: Expr::Call(cel::common::ast::CallExpr {
                    func_name: ORDERED.to_owned(),
                    target: None,
                    args: vec![range],
                }),
            };
        }
        stack.extend(children_mut(node));
    }
}

fn children_mut(node: &mut IdedExpr) -> Vec<&mut IdedExpr> {
    match &mut node.expr {
        Expr::Call(call) => call
            .target
            .as_deref_mut()
            .into_iter()
            .chain(call.args.iter_mut())
            .collect(),
        Expr::Select(select) => vec![&mut *select.operand],
        Expr::List(list) => list.elements.iter_mut().collect(),
        Expr::Map(map) => map
            .entries
            .iter_mut()
            .flat_map(|entry| match &mut entry.expr {
                cel::common::ast::EntryExpr::MapEntry(e) => vec![&mut e.key, &mut e.value],
                cel::common::ast::EntryExpr::StructField(f) => vec![&mut f.value],
            })
            .collect(),
        Expr::Comprehension(c) => {
            let c = &mut **c;
            vec![
                &mut c.iter_range,
                &mut c.accu_init,
                &mut c.loop_cond,
                &mut c.loop_step,
                &mut c.result,
            ]
        }
        Expr::Ident(_) | Expr::Literal(_) | Expr::Struct(_) | Expr::Unspecified => Vec::new(),
    }
}

/// `@kollect.ordered(range)`: a map's keys in ascending order, anything else unchanged.
#[allow(clippy::needless_pass_by_value)] // the shape the interpreter calls
fn ordered(cel::extractors::Arguments(args): cel::extractors::Arguments) -> CelValue {
    match args.first() {
        Some(CelValue::Map(map)) => {
            let mut keys: Vec<&Key> = map.map.keys().collect();
            keys.sort_by(|a, b| key_order(a).cmp(&key_order(b)));
            CelValue::List(Arc::new(
                keys.into_iter()
                    .map(|k| CelValue::from(k.clone()))
                    .collect(),
            ))
        }
        Some(other) => other.clone(),
        None => CelValue::Null,
    }
}

/// Keys sort by type (booleans, integers, unsigned, strings), then value.
fn key_order(key: &Key) -> (u8, i128, &str) {
    match key {
        Key::Bool(flag) => (0, i128::from(*flag), ""),
        Key::Int(integer) => (1, i128::from(*integer), ""),
        Key::Uint(unsigned) => (2, i128::from(*unsigned), ""),
        Key::String(text) => (3, 0, text.as_str()),
    }
}

fn children(node: &IdedExpr) -> Vec<&IdedExpr> {
    match &node.expr {
        Expr::Call(call) => call
            .target
            .as_deref()
            .into_iter()
            .chain(call.args.iter())
            .collect(),
        Expr::Select(select) => vec![&select.operand],
        Expr::List(list) => list.elements.iter().collect(),
        Expr::Map(map) => map
            .entries
            .iter()
            .flat_map(|entry| match &entry.expr {
                cel::common::ast::EntryExpr::MapEntry(e) => vec![&e.key, &e.value],
                cel::common::ast::EntryExpr::StructField(f) => vec![&f.value],
            })
            .collect(),
        Expr::Comprehension(c) => vec![
            &c.iter_range,
            &c.accu_init,
            &c.loop_cond,
            &c.loop_step,
            &c.result,
        ],
        Expr::Ident(_) | Expr::Literal(_) | Expr::Struct(_) | Expr::Unspecified => Vec::new(),
    }
}

/// Depth of the expression tree, without recursion (the tree may be thousands deep).
fn ast_depth(root: &IdedExpr) -> usize {
    let mut deepest = 0;
    let mut stack = vec![(root, 1usize)];
    while let Some((node, depth)) = stack.pop() {
        deepest = deepest.max(depth);
        stack.extend(children(node).into_iter().map(|child| (child, depth + 1)));
    }
    deepest
}

/// `(number of + operators, longest string literal in bytes)` of an expression.
fn operators_and_strings(node: &IdedExpr) -> (u32, u64) {
    let mut pluses = 0u32;
    let mut longest = 0u64;
    let mut stack = vec![node];
    while let Some(node) = stack.pop() {
        match &node.expr {
            Expr::Call(call) if call.func_name == operators::ADD => {
                pluses = pluses.saturating_add(1);
            }
            Expr::Literal(LiteralValue::String(text)) => {
                longest = longest.max(text.len() as u64);
            }
            Expr::Literal(LiteralValue::Bytes(bytes)) => {
                longest = longest.max(bytes.len() as u64);
            }
            _ => {}
        }
        stack.extend(children(node));
    }
    (pluses, longest)
}

/// An object converted to CEL once, for evaluating several expressions on it.
pub struct Input {
    value: Result<Box<dyn Val>, EvalError>,
    measure: Measure,
}

impl Input {
    /// Converts `object` and measures it for the cost bound.
    pub fn new(object: &Value) -> Self {
        Self::measured(object, Measure::of(object))
    }

    fn measured(object: &Value, measure: Measure) -> Self {
        Self {
            value: Box::<dyn Val>::try_from(to_cel(object))
                .map_err(|e| EvalError::Failed(e.to_string())),
            measure,
        }
    }
}

/// Resolves `object` to the converted input (comprehension variables live in the context's
/// own scopes, which the interpreter consults for them).
struct ObjectResolver<'a>(&'a dyn Val);

impl VariableResolver for ObjectResolver<'_> {
    fn resolve<'b>(&'b self, variable: &str) -> Option<CowVal<'b, 'b>> {
        (variable == OBJECT).then_some(CowVal::Borrowed(self.0))
    }
}

impl fmt::Debug for Input {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Input")
            .field("nodes", &self.measure.nodes)
            .finish_non_exhaustive()
    }
}

/// Node count and longest string (value or key, in bytes) of an object.
#[derive(Default)]
struct Measure {
    nodes: u64,
    longest_string: u64,
}

impl Measure {
    fn of(value: &Value) -> Self {
        let mut measure = Self::default();
        measure.add(value);
        measure
    }

    fn add(&mut self, value: &Value) {
        self.nodes += 1;
        match value {
            Value::String(text) => self.longest_string = self.longest_string.max(text.len() as u64),
            Value::Array(items) => items.iter().for_each(|item| self.add(item)),
            Value::Object(map) => {
                for (key, item) in map {
                    self.longest_string = self.longest_string.max(key.len() as u64);
                    self.add(item);
                }
            }
            _ => {}
        }
    }
}

/// JSON → CEL: integers that fit `i64` are `int`, other numbers `double`.
pub(crate) fn to_cel(value: &Value) -> CelValue {
    match value {
        Value::Null => CelValue::Null,
        Value::Bool(flag) => CelValue::Bool(*flag),
        Value::Number(number) => match number.as_i64() {
            Some(integer) => CelValue::Int(integer),
            None => CelValue::Float(number.as_f64().unwrap_or(f64::NAN)),
        },
        Value::String(text) => CelValue::String(Arc::new(text.clone())),
        Value::Array(items) => CelValue::List(Arc::new(items.iter().map(to_cel).collect())),
        Value::Object(map) => {
            let converted: HashMap<Key, CelValue> = map
                .iter()
                .map(|(key, value)| (Key::String(Arc::new(key.clone())), to_cel(value)))
                .collect();
            CelValue::Map(CelMap {
                map: Arc::new(converted),
            })
        }
    }
}

/// CEL → JSON (pipeline spec §2.4 result table, DECISIONS Q4).
fn from_cel(value: &CelValue, non_finite: &mut bool) -> Value {
    match value {
        CelValue::Null => Value::Null,
        CelValue::Bool(flag) => Value::Bool(*flag),
        CelValue::Int(integer) => Value::from(*integer),
        CelValue::UInt(unsigned) => Value::from(*unsigned),
        CelValue::Float(float) => {
            if let Some(number) = Number::from_f64(*float) {
                Value::Number(number)
            } else {
                *non_finite = true;
                Value::Null
            }
        }
        CelValue::String(text) => Value::String(text.as_ref().clone()),
        CelValue::Bytes(bytes) => {
            Value::String(base64::engine::general_purpose::STANDARD.encode(bytes.as_ref()))
        }
        CelValue::List(items) => Value::Array(
            items
                .iter()
                .map(|item| from_cel(item, non_finite))
                .collect(),
        ),
        CelValue::Map(map) => {
            let mut out = Map::new();
            for (key, item) in map.map.iter() {
                let key = match key {
                    Key::String(text) => text.as_ref().clone(),
                    Key::Int(integer) => integer.to_string(),
                    Key::Uint(unsigned) => unsigned.to_string(),
                    Key::Bool(flag) => flag.to_string(),
                };
                out.insert(key, from_cel(item, non_finite));
            }
            Value::Object(out)
        }
        CelValue::Timestamp(timestamp) => Value::String(rfc3339(timestamp)),
        CelValue::Duration(duration) => Value::from(duration.num_nanoseconds().unwrap_or(i64::MAX)),
        other => Value::String(format!("{other:?}")),
    }
}

/// RFC 3339 as Go's `time.RFC3339Nano` writes it: fractional seconds without trailing zeros
/// (none when zero), `Z` for a zero offset.
fn rfc3339(timestamp: &chrono::DateTime<chrono::FixedOffset>) -> String {
    use chrono::{Datelike as _, Timelike as _};
    let mut out = format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}",
        timestamp.year(),
        timestamp.month(),
        timestamp.day(),
        timestamp.hour(),
        timestamp.minute(),
        timestamp.second()
    );
    let nanos = timestamp.nanosecond() % 1_000_000_000;
    if nanos > 0 {
        let fraction = format!("{nanos:09}");
        out.push('.');
        out.push_str(fraction.trim_end_matches('0'));
    }
    let offset = timestamp.offset().local_minus_utc();
    if offset == 0 {
        out.push('Z');
    } else {
        let sign = if offset < 0 { '-' } else { '+' };
        let minutes = offset.unsigned_abs() / 60;
        let _ = write!(out, "{sign}{:02}:{:02}", minutes / 60, minutes % 60);
    }
    out
}

#[cfg(test)]
mod tests;
