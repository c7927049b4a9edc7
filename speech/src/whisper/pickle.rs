//! A reader for the pickles `torch.save` writes (protocols 2 to 5): enough of the pickle machine
//! to rebuild dicts of tensors and plain values. Nothing is imported or called: a class reference
//! stays a [`Value::Global`] and a call a [`Value::Call`], which the caller interprets
//! (`pt.rs` knows `torch._utils._rebuild_tensor_v2`); only `collections.OrderedDict()` is made
//! a [`Value::Dict`] here, since the pickle fills it with SETITEMS.

use std::collections::HashMap;

#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    None,
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(String),
    Bytes(Vec<u8>),
    Tuple(Vec<Value>),
    List(Vec<Value>),
    /// Key order kept, as in Python.
    Dict(Vec<(Value, Value)>),
    /// `module.name`, as `GLOBAL` / `STACK_GLOBAL` name it.
    Global(String, String),
    /// The argument of a persistent id (torch: `("storage", class, key, location, numel)`).
    PersistentId(Box<Value>),
    /// `callable(*args)` (`REDUCE`, `NEWOBJ`), not evaluated.
    Call(Box<Value>, Vec<Value>),
}

impl Value {
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::Str(s) => Some(s),
            _ => None,
        }
    }
    pub fn as_int(&self) -> Option<i64> {
        match self {
            Value::Int(i) => Some(*i),
            _ => None,
        }
    }
    /// The items of a tuple or list.
    pub fn items(&self) -> Option<&[Value]> {
        match self {
            Value::Tuple(v) | Value::List(v) => Some(v),
            _ => None,
        }
    }
    /// The value under a string key of a dict.
    pub fn get(&self, key: &str) -> Option<&Value> {
        match self {
            Value::Dict(d) => d.iter().find(|(k, _)| k.as_str() == Some(key)).map(|(_, v)| v),
            _ => None,
        }
    }
}

#[derive(Debug, thiserror::Error)]
#[error("pickle at byte {at}: {reason}")]
pub struct PickleError {
    pub at: usize,
    pub reason: String,
}

struct Machine<'a> {
    data: &'a [u8],
    pos: usize,
    stack: Vec<Value>,
    marks: Vec<usize>,
    memo: HashMap<u32, Value>,
}

type Result<T> = std::result::Result<T, PickleError>;

impl<'a> Machine<'a> {
    fn fail<T>(&self, reason: impl Into<String>) -> Result<T> {
        Err(PickleError { at: self.pos, reason: reason.into() })
    }
    fn take(&mut self, n: usize) -> Result<&'a [u8]> {
        if self.data.len() - self.pos < n {
            return self.fail(format!("needs {n} more bytes, the pickle ends"));
        }
        let s = &self.data[self.pos..self.pos + n];
        self.pos += n;
        Ok(s)
    }
    fn uint(&mut self, n: usize) -> Result<u64> {
        let b = self.take(n)?;
        Ok(b.iter().rev().fold(0u64, |acc, x| (acc << 8) | *x as u64))
    }
    fn line(&mut self) -> Result<String> {
        let rest = &self.data[self.pos..];
        let Some(end) = rest.iter().position(|b| *b == b'\n') else { return self.fail("unterminated line") };
        self.pos += end + 1;
        Ok(String::from_utf8_lossy(&rest[..end]).into_owned())
    }
    fn text(&mut self, n: usize) -> Result<Value> {
        let b = self.take(n)?;
        match std::str::from_utf8(b) {
            Ok(s) => Ok(Value::Str(s.to_string())),
            Err(_) => self.fail("string is not UTF-8"),
        }
    }
    fn pop(&mut self) -> Result<Value> {
        match self.stack.pop() {
            Some(v) => Ok(v),
            None => self.fail("stack underflow"),
        }
    }
    fn top(&mut self) -> Result<&mut Value> {
        let at = self.pos;
        self.stack.last_mut().ok_or(PickleError { at, reason: "stack underflow".into() })
    }
    /// The values pushed since the last MARK, which is removed.
    fn pop_mark(&mut self) -> Result<Vec<Value>> {
        let Some(m) = self.marks.pop() else { return self.fail("no MARK") };
        if m > self.stack.len() {
            return self.fail("MARK above the stack");
        }
        Ok(self.stack.split_off(m))
    }
    fn set_items(&mut self, items: Vec<Value>) -> Result<()> {
        if !items.len().is_multiple_of(2) {
            return self.fail("odd number of dict items");
        }
        let mut it = items.into_iter();
        let Value::Dict(d) = self.top()? else { return self.fail("SETITEM(S) on a non-dict") };
        while let (Some(k), Some(v)) = (it.next(), it.next()) {
            match d.iter_mut().find(|(key, _)| *key == k) {
                Some(slot) => slot.1 = v,
                None => d.push((k, v)),
            }
        }
        Ok(())
    }
    fn append(&mut self, items: Vec<Value>) -> Result<()> {
        match self.top()? {
            Value::List(l) => {
                l.extend(items);
                Ok(())
            }
            _ => self.fail("APPEND(S) on a non-list"),
        }
    }
    fn memo_put(&mut self, key: u32) -> Result<()> {
        let v = self.top()?.clone();
        self.memo.insert(key, v);
        Ok(())
    }
    fn memo_get(&mut self, key: u32) -> Result<()> {
        match self.memo.get(&key) {
            Some(v) => {
                self.stack.push(v.clone());
                Ok(())
            }
            None => self.fail(format!("memo {key} is unset")),
        }
    }

    fn run(&mut self) -> Result<Value> {
        loop {
            let op = self.take(1)?[0];
            match op {
                0x80 => {
                    let proto = self.uint(1)?;
                    if proto > 5 {
                        return self.fail(format!("pickle protocol {proto} is not supported"));
                    }
                }
                0x95 => {
                    self.uint(8)?; // FRAME: a length hint
                }
                b'.' => return self.pop(),
                b'(' => self.marks.push(self.stack.len()),
                b'0' => {
                    self.pop()?;
                }
                b'N' => self.stack.push(Value::None),
                0x88 => self.stack.push(Value::Bool(true)),
                0x89 => self.stack.push(Value::Bool(false)),
                b'K' => {
                    let v = self.uint(1)? as i64;
                    self.stack.push(Value::Int(v));
                }
                b'M' => {
                    let v = self.uint(2)? as i64;
                    self.stack.push(Value::Int(v));
                }
                b'J' => {
                    let v = self.uint(4)? as u32 as i32 as i64;
                    self.stack.push(Value::Int(v));
                }
                0x8a => {
                    let n = self.uint(1)? as usize;
                    let b = self.take(n)?;
                    if n > 8 {
                        return self.fail("LONG1 wider than 64 bits");
                    }
                    let mut buf = [if b.last().is_some_and(|x| x & 0x80 != 0) { 0xff } else { 0 }; 8];
                    buf[..n].copy_from_slice(b);
                    self.stack.push(Value::Int(i64::from_le_bytes(buf)));
                }
                b'G' => {
                    let b = self.take(8)?;
                    self.stack.push(Value::Float(f64::from_be_bytes(b.try_into().expect("8 bytes"))));
                }
                b'X' => {
                    let n = self.uint(4)? as usize;
                    let v = self.text(n)?;
                    self.stack.push(v);
                }
                0x8c => {
                    let n = self.uint(1)? as usize;
                    let v = self.text(n)?;
                    self.stack.push(v);
                }
                0x8d => {
                    let n = self.uint(8)? as usize;
                    let v = self.text(n)?;
                    self.stack.push(v);
                }
                b'U' | b'C' => {
                    let n = self.uint(1)? as usize;
                    let b = self.take(n)?.to_vec();
                    self.stack.push(if op == b'U' {
                        Value::Str(String::from_utf8_lossy(&b).into())
                    } else {
                        Value::Bytes(b)
                    });
                }
                b'T' | b'B' => {
                    let n = self.uint(4)? as usize;
                    let b = self.take(n)?.to_vec();
                    self.stack.push(if op == b'T' {
                        Value::Str(String::from_utf8_lossy(&b).into())
                    } else {
                        Value::Bytes(b)
                    });
                }
                b')' => self.stack.push(Value::Tuple(Vec::new())),
                b'}' => self.stack.push(Value::Dict(Vec::new())),
                b']' => self.stack.push(Value::List(Vec::new())),
                b't' => {
                    let items = self.pop_mark()?;
                    self.stack.push(Value::Tuple(items));
                }
                b'l' => {
                    let items = self.pop_mark()?;
                    self.stack.push(Value::List(items));
                }
                b'd' => {
                    let items = self.pop_mark()?;
                    self.stack.push(Value::Dict(Vec::new()));
                    self.set_items(items)?;
                }
                0x85..=0x87 => {
                    let n = (op - 0x84) as usize;
                    if self.stack.len() < n {
                        return self.fail("stack underflow");
                    }
                    let items = self.stack.split_off(self.stack.len() - n);
                    self.stack.push(Value::Tuple(items));
                }
                b's' => {
                    let v = self.pop()?;
                    let k = self.pop()?;
                    self.set_items(vec![k, v])?;
                }
                b'u' => {
                    let items = self.pop_mark()?;
                    self.set_items(items)?;
                }
                b'a' => {
                    let v = self.pop()?;
                    self.append(vec![v])?;
                }
                b'e' => {
                    let items = self.pop_mark()?;
                    self.append(items)?;
                }
                b'q' => {
                    let k = self.uint(1)? as u32;
                    self.memo_put(k)?;
                }
                b'r' => {
                    let k = self.uint(4)? as u32;
                    self.memo_put(k)?;
                }
                0x94 => {
                    let k = self.memo.len() as u32;
                    self.memo_put(k)?;
                }
                b'h' => {
                    let k = self.uint(1)? as u32;
                    self.memo_get(k)?;
                }
                b'j' => {
                    let k = self.uint(4)? as u32;
                    self.memo_get(k)?;
                }
                b'c' => {
                    let module = self.line()?;
                    let name = self.line()?;
                    self.stack.push(Value::Global(module, name));
                }
                0x93 => {
                    let name = self.pop()?;
                    let module = self.pop()?;
                    match (module, name) {
                        (Value::Str(m), Value::Str(n)) => self.stack.push(Value::Global(m, n)),
                        _ => return self.fail("STACK_GLOBAL needs two strings"),
                    }
                }
                b'Q' => {
                    let id = self.pop()?;
                    self.stack.push(Value::PersistentId(Box::new(id)));
                }
                b'R' | 0x81 => {
                    let args = self.pop()?;
                    let callable = self.pop()?;
                    let Value::Tuple(args) = args else { return self.fail("call arguments are not a tuple") };
                    // An OrderedDict is built empty, then filled by SETITEMS: it must be a dict.
                    let ordered_dict = Value::Global("collections".into(), "OrderedDict".into());
                    if callable == ordered_dict && args.is_empty() {
                        self.stack.push(Value::Dict(Vec::new()));
                    } else {
                        self.stack.push(Value::Call(Box::new(callable), args));
                    }
                }
                b'b' => {
                    // BUILD sets an object's state; the values torch checkpoints hold need none of it
                    // (an OrderedDict's `_metadata`).
                    self.pop()?;
                }
                _ => return self.fail(format!("opcode 0x{op:02x} is not supported")),
            }
        }
    }
}

/// Runs a pickle and returns the object it builds.
pub fn load(data: &[u8]) -> Result<Value> {
    Machine { data, pos: 0, stack: Vec::new(), marks: Vec::new(), memo: HashMap::new() }.run()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_a_protocol_2_dict() {
        // pickle.dumps({"a": 1, "b": [2.5, None], "c": ("x", True), "d": -3, "e": 70000}, protocol=2)
        let data = b"\x80\x02}q\x00(X\x01\x00\x00\x00aq\x01K\x01X\x01\x00\x00\x00bq\x02]q\x03(G@\x04\x00\x00\x00\x00\x00\x00NeX\x01\x00\x00\x00cq\x04X\x01\x00\x00\x00xq\x05\x88\x86q\x06X\x01\x00\x00\x00dq\x07J\xfd\xff\xff\xffX\x01\x00\x00\x00eq\x08Jp\x11\x01\x00u.";
        let v = load(data).unwrap();
        assert_eq!(v.get("a"), Some(&Value::Int(1)));
        assert_eq!(v.get("b"), Some(&Value::List(vec![Value::Float(2.5), Value::None])));
        assert_eq!(v.get("c"), Some(&Value::Tuple(vec![Value::Str("x".into()), Value::Bool(true)])));
        assert_eq!(v.get("d"), Some(&Value::Int(-3)));
        assert_eq!(v.get("e"), Some(&Value::Int(70000)));
    }

    #[test]
    fn truncated_pickle_is_an_error() {
        assert!(load(b"\x80\x02}q\x00(X\x01\x00").is_err());
    }
}
