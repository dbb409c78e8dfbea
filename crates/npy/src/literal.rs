//! A strict parser for the Python dict literal of a `.npy` header.
//!
//! The grammar accepted, over the header bytes (whitespace is space, tab, `\n`, `\r` and form
//! feed, allowed between any two tokens and before and after the dict):
//!
//! ```text
//! header  = "{" [ entry { "," entry } [ "," ] ] "}"
//! entry   = string ":" value
//! string  = [ "u" | "U" ] ( "'" chars "'" | '"' chars '"' )    no escapes, no line breaks
//! value   = string | "True" | "False" | tuple | list-or-dict (for a structured descr only)
//! tuple   = "(" ")" | "(" int "," { int "," } ")" | "(" int { "," int } ")"   at least one comma
//! int     = [ "-" ] digit { digit } [ "L" | "l" ]                             (the L of Python 2)
//! ```
//!
//! Keys are exactly `descr`, `fortran_order` and `shape`, in any order, each once. A list or
//! dict `descr` (a structured dtype) is skipped with a bracket counter, never recursion, and
//! at most [`MAX_NESTING`] deep. The first problem in text order is the one reported.

use arrfile_format::{DescriptionError, MAX_NDIM};

use super::error::{NpyError, quote};

/// The deepest bracket nesting skipped inside a structured `descr`.
pub(crate) const MAX_NESTING: usize = 16;

/// How the header text is encoded: latin-1 for versions 1.0 and 2.0, UTF-8 for 3.0.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Encoding {
    Latin1,
    Utf8,
}

/// The `descr` value as written.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum DescrValue {
    /// A string: a simple dtype.
    Text(String),
    /// A list or dict: a structured dtype; its source text, cut short.
    Structured(String),
}

/// The three values of a header dict.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Dict {
    pub(crate) descr: DescrValue,
    pub(crate) fortran_order: bool,
    /// At most [`MAX_NDIM`] dimensions.
    pub(crate) shape: Vec<u64>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Tok {
    LBrace,
    RBrace,
    LParen,
    RParen,
    LBracket,
    RBracket,
    Colon,
    Comma,
    /// A string; `start..end` is its content, between the quotes.
    Str,
    /// An integer; `start..end` is the optional `-` and the digits, without an `L`.
    Int,
    /// An identifier such as `True`.
    Name,
    End,
}

#[derive(Clone, Copy, Debug)]
struct Token {
    kind: Tok,
    /// Where the token starts (a prefix or opening quote included).
    at: usize,
    start: usize,
    end: usize,
}

struct Lexer<'a> {
    bytes: &'a [u8],
    pos: usize,
    /// File offset of `bytes[0]`, for error messages.
    base: u64,
    encoding: Encoding,
}

fn is_space(byte: u8) -> bool {
    matches!(byte, b' ' | b'\t' | b'\n' | b'\r' | 0x0c)
}

fn is_name_byte(byte: u8) -> bool {
    byte.is_ascii_alphanumeric() || byte == b'_'
}

impl<'a> Lexer<'a> {
    fn peek(&self, ahead: usize) -> Option<u8> {
        self.bytes.get(self.pos.checked_add(ahead)?).copied()
    }

    fn offset(&self, index: usize) -> u64 {
        self.base.saturating_add(u64::try_from(index).unwrap_or(u64::MAX))
    }

    /// The text of `start..end`, decoded.
    fn text(&self, start: usize, end: usize) -> String {
        let bytes = self.bytes.get(start..end).unwrap_or(&[]);
        match self.encoding {
            Encoding::Latin1 => bytes.iter().map(|&byte| char::from(byte)).collect(),
            Encoding::Utf8 => String::from_utf8_lossy(bytes).into_owned(),
        }
    }

    fn syntax(&self, at: usize, expected: &'static str, found: String) -> NpyError {
        NpyError::Syntax { offset: self.offset(at), expected, found }
    }

    /// How a token reads in an error message.
    fn describe(&self, token: Token) -> String {
        match token.kind {
            Tok::LBrace => "'{'".into(),
            Tok::RBrace => "'}'".into(),
            Tok::LParen => "'('".into(),
            Tok::RParen => "')'".into(),
            Tok::LBracket => "'['".into(),
            Tok::RBracket => "']'".into(),
            Tok::Colon => "':'".into(),
            Tok::Comma => "','".into(),
            Tok::Str => format!("the string '{}'", quote(&self.text(token.start, token.end))),
            Tok::Int => format!("the integer {}", quote(&self.text(token.start, token.end))),
            Tok::Name => format!("the name {}", quote(&self.text(token.start, token.end))),
            Tok::End => "the end of the header".into(),
        }
    }

    fn describe_byte(&self, byte: u8) -> String {
        if byte.is_ascii_graphic() {
            format!("the character '{}'", char::from(byte))
        } else {
            format!("the byte {byte:#04x}")
        }
    }

    fn next(&mut self) -> Result<Token, NpyError> {
        while self.peek(0).is_some_and(is_space) {
            self.pos += 1;
        }
        let at = self.pos;
        let single = |kind| Token { kind, at, start: at, end: at + 1 };
        let Some(byte) = self.peek(0) else {
            return Ok(Token { kind: Tok::End, at, start: at, end: at });
        };
        let token = match byte {
            b'{' => single(Tok::LBrace),
            b'}' => single(Tok::RBrace),
            b'(' => single(Tok::LParen),
            b')' => single(Tok::RParen),
            b'[' => single(Tok::LBracket),
            b']' => single(Tok::RBracket),
            b':' => single(Tok::Colon),
            b',' => single(Tok::Comma),
            b'\'' | b'"' => return self.string(at, at),
            b'u' | b'U' if matches!(self.peek(1), Some(b'\'' | b'"')) => {
                return self.string(at, at + 1);
            }
            b'-' | b'0'..=b'9' => return self.integer(at),
            b'A'..=b'Z' | b'a'..=b'z' | b'_' => {
                let mut end = at;
                while self.bytes.get(end).copied().is_some_and(is_name_byte) {
                    end += 1;
                }
                self.pos = end;
                return Ok(Token { kind: Tok::Name, at, start: at, end });
            }
            other => {
                return Err(self.syntax(at, "a Python literal", self.describe_byte(other)));
            }
        };
        self.pos = token.end;
        Ok(token)
    }

    /// A string whose opening quote is at `quote_at`.
    fn string(&mut self, at: usize, quote_at: usize) -> Result<Token, NpyError> {
        let Some(&quote_char) = self.bytes.get(quote_at) else {
            return Err(self.syntax(at, "a string", "the end of the header".into()));
        };
        let start = quote_at + 1;
        let mut index = start;
        loop {
            match self.bytes.get(index).copied() {
                Some(byte) if byte == quote_char => break,
                Some(b'\\') => {
                    return Err(self.syntax(
                        index,
                        "a string without escape sequences",
                        "a backslash".into(),
                    ));
                }
                Some(b'\n' | b'\r') | None => {
                    return Err(self.syntax(
                        index,
                        "a closing quote",
                        if index < self.bytes.len() {
                            "a line break".into()
                        } else {
                            "the end of the header".into()
                        },
                    ));
                }
                Some(_) => index += 1,
            }
        }
        self.pos = index + 1;
        Ok(Token { kind: Tok::Str, at, start, end: index })
    }

    fn integer(&mut self, at: usize) -> Result<Token, NpyError> {
        let mut end = at;
        if self.bytes.get(end) == Some(&b'-') {
            end += 1;
        }
        let digits = end;
        while self.bytes.get(end).is_some_and(u8::is_ascii_digit) {
            end += 1;
        }
        if end == digits {
            let found = match self.bytes.get(end) {
                Some(&byte) => self.describe_byte(byte),
                None => "the end of the header".into(),
            };
            return Err(self.syntax(end, "a digit after '-'", found));
        }
        self.pos = end;
        // Python 2's long suffix, which numpy's reader still strips from version 1.0 and
        // 2.0 headers.
        if matches!(self.peek(0), Some(b'L' | b'l')) {
            self.pos += 1;
        }
        Ok(Token { kind: Tok::Int, at, start: at, end })
    }

    fn expect(&mut self, kind: Tok, expected: &'static str) -> Result<Token, NpyError> {
        let token = self.next()?;
        if token.kind == kind {
            Ok(token)
        } else {
            Err(self.syntax(token.at, expected, self.describe(token)))
        }
    }
}

/// Parses the header text `bytes`, which starts at file offset `base`.
pub(crate) fn parse_dict(bytes: &[u8], base: u64, encoding: Encoding) -> Result<Dict, NpyError> {
    let mut lexer = Lexer { bytes, pos: 0, base, encoding };
    let mut descr = None;
    let mut fortran_order = None;
    let mut shape = None;

    lexer.expect(Tok::LBrace, "'{' opening the header dict")?;
    let mut token = lexer.next()?;
    loop {
        // Here `token` is the first token of an entry, or the closing brace.
        match token.kind {
            Tok::RBrace => break,
            Tok::Str => {}
            _ => {
                return Err(lexer.syntax(token.at, "a quoted key or '}'", lexer.describe(token)));
            }
        }
        let key = lexer.text(token.start, token.end);
        lexer.expect(Tok::Colon, "':' after the key")?;
        match key.as_str() {
            "descr" => {
                if descr.is_some() {
                    return Err(NpyError::DuplicateKey { key: "descr" });
                }
                descr = Some(parse_descr(&mut lexer)?);
            }
            "fortran_order" => {
                if fortran_order.is_some() {
                    return Err(NpyError::DuplicateKey { key: "fortran_order" });
                }
                fortran_order = Some(parse_bool(&mut lexer)?);
            }
            "shape" => {
                if shape.is_some() {
                    return Err(NpyError::DuplicateKey { key: "shape" });
                }
                shape = Some(parse_shape(&mut lexer)?);
            }
            _ => return Err(NpyError::UnknownKey { key: quote(&key) }),
        }
        let after = lexer.next()?;
        match after.kind {
            Tok::Comma => token = lexer.next()?,
            Tok::RBrace => break,
            _ => return Err(lexer.syntax(after.at, "',' or '}'", lexer.describe(after))),
        }
    }
    lexer.expect(Tok::End, "the end of the header after '}'")?;

    let descr = descr.ok_or(NpyError::MissingKey { key: "descr" })?;
    let fortran_order = fortran_order.ok_or(NpyError::MissingKey { key: "fortran_order" })?;
    let shape = shape.ok_or(NpyError::MissingKey { key: "shape" })?;
    Ok(Dict { descr, fortran_order, shape })
}

fn parse_descr(lexer: &mut Lexer<'_>) -> Result<DescrValue, NpyError> {
    let token = lexer.next()?;
    match token.kind {
        Tok::Str => Ok(DescrValue::Text(lexer.text(token.start, token.end))),
        Tok::LBracket | Tok::LBrace => {
            let end = skip_nested(lexer, token)?;
            Ok(DescrValue::Structured(quote(&lexer.text(token.at, end))))
        }
        _ => Err(NpyError::InvalidValue {
            key: "descr",
            expected: "a string such as '<f4'",
            found: lexer.describe(token),
        }),
    }
}

/// Skips a bracketed value that starts with `open`, returning the index after its close.
fn skip_nested(lexer: &mut Lexer<'_>, open: Token) -> Result<usize, NpyError> {
    let mut closers = [Tok::End; MAX_NESTING];
    let mut depth = 0usize;
    let mut token = open;
    loop {
        let closer = match token.kind {
            Tok::LBracket => Some(Tok::RBracket),
            Tok::LBrace => Some(Tok::RBrace),
            Tok::LParen => Some(Tok::RParen),
            _ => None,
        };
        if let Some(closer) = closer {
            let Some(slot) = closers.get_mut(depth) else {
                return Err(lexer.syntax(
                    token.at,
                    "brackets nested at most 16 deep",
                    lexer.describe(token),
                ));
            };
            *slot = closer;
            depth += 1;
        } else if matches!(token.kind, Tok::RBracket | Tok::RBrace | Tok::RParen | Tok::End) {
            let expected = depth.checked_sub(1).and_then(|top| closers.get(top)).copied();
            if expected != Some(token.kind) {
                let expected = match expected {
                    Some(Tok::RBracket) => "']'",
                    Some(Tok::RBrace) => "'}'",
                    _ => "')'",
                };
                return Err(lexer.syntax(token.at, expected, lexer.describe(token)));
            }
            depth -= 1;
            if depth == 0 {
                return Ok(token.end);
            }
        }
        token = lexer.next()?;
    }
}

fn parse_bool(lexer: &mut Lexer<'_>) -> Result<bool, NpyError> {
    let token = lexer.next()?;
    if token.kind == Tok::Name {
        match lexer.bytes.get(token.start..token.end) {
            Some(b"True") => return Ok(true),
            Some(b"False") => return Ok(false),
            _ => {}
        }
    }
    Err(NpyError::InvalidValue {
        key: "fortran_order",
        expected: "True or False",
        found: lexer.describe(token),
    })
}

fn parse_shape(lexer: &mut Lexer<'_>) -> Result<Vec<u64>, NpyError> {
    const EXPECTED_TUPLE: &str = "a tuple of non-negative integers such as (), (5,) or (2, 3)";
    let open = lexer.next()?;
    if open.kind != Tok::LParen {
        return Err(NpyError::InvalidValue {
            key: "shape",
            expected: EXPECTED_TUPLE,
            found: lexer.describe(open),
        });
    }
    let mut shape = Vec::new();
    let mut ndim = 0usize;
    let mut commas = 0usize;
    loop {
        // After '(' or ',': an integer or ')'.
        let token = lexer.next()?;
        match token.kind {
            Tok::RParen => break,
            Tok::Int => {}
            Tok::Comma => {
                return Err(lexer.syntax(token.at, "an integer or ')'", lexer.describe(token)));
            }
            _ => {
                return Err(NpyError::InvalidValue {
                    key: "shape",
                    expected: "a non-negative integer as each dimension",
                    found: lexer.describe(token),
                });
            }
        }
        let dim = dimension(lexer, token)?;
        ndim = ndim.saturating_add(1);
        if shape.len() < MAX_NDIM {
            shape.push(dim);
        }
        // After an integer: ',' or ')'.
        let after = lexer.next()?;
        match after.kind {
            Tok::Comma => commas += 1,
            Tok::RParen => break,
            _ => return Err(lexer.syntax(after.at, "',' or ')'", lexer.describe(after))),
        }
    }
    if ndim == 1 && commas == 0 {
        return Err(NpyError::InvalidValue {
            key: "shape",
            expected: "a tuple (a one-element tuple needs a trailing comma, as in (5,))",
            found: format!("({})", shape.first().copied().unwrap_or(0)),
        });
    }
    if ndim > MAX_NDIM {
        return Err(NpyError::Shape(DescriptionError::TooManyDimensions { ndim }));
    }
    Ok(shape)
}

fn dimension(lexer: &Lexer<'_>, token: Token) -> Result<u64, NpyError> {
    let digits = lexer.bytes.get(token.start..token.end).unwrap_or(&[]);
    let invalid = |expected| NpyError::InvalidValue {
        key: "shape",
        expected,
        found: format!("the dimension {}", quote(&lexer.text(token.start, token.end))),
    };
    let (negative, digits) = match digits.split_first() {
        Some((b'-', rest)) => (true, rest),
        _ => (false, digits),
    };
    let value = digits
        .iter()
        .try_fold(0u64, |acc, &digit| {
            let digit = char::from(digit).to_digit(10)?;
            acc.checked_mul(10)?.checked_add(u64::from(digit))
        })
        .ok_or_else(|| invalid("dimensions below 2^64"))?;
    // Python reads `-0` as 0.
    if negative && value != 0 {
        return Err(invalid("non-negative dimensions"));
    }
    Ok(value)
}
