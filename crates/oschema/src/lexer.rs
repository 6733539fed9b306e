//! Lexer: source text to tokens, each with its 1-based line and column.
//!
//! Newlines and comments are tokens: the parser needs them to separate
//! fields and to find doc comments. Bad characters and unterminated strings
//! are reported here; a bad character becomes an [`Tok::Error`] token so the
//! parser can skip it without reporting it a second time.

use crate::diagnostic::Reporter;
use crate::model::Span;

#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Tok {
    Ident(String),
    Str(String),
    Number(f64),
    /// `@name`
    Annot(String),
    /// `# text`: the text after the `#`.
    Comment(String),
    Newline,
    Eq,
    Pipe,
    Colon,
    Comma,
    Question,
    Arrow,
    LParen,
    RParen,
    LBrace,
    RBrace,
    LBracket,
    RBracket,
    /// Something the lexer already reported.
    Error,
    Eof,
}

impl Tok {
    /// How the token is named in "expected ..., found ..." messages.
    pub(crate) fn describe(&self) -> String {
        match self {
            Tok::Ident(name) => format!("'{name}'"),
            Tok::Str(text) => format!("string \"{text}\""),
            Tok::Number(n) => format!("number {n}"),
            Tok::Annot(name) => format!("annotation '@{name}'"),
            Tok::Comment(_) | Tok::Newline => "end of line".to_owned(),
            Tok::Eq => "'='".to_owned(),
            Tok::Pipe => "'|'".to_owned(),
            Tok::Colon => "':'".to_owned(),
            Tok::Comma => "','".to_owned(),
            Tok::Question => "'?'".to_owned(),
            Tok::Arrow => "'->'".to_owned(),
            Tok::LParen => "'('".to_owned(),
            Tok::RParen => "')'".to_owned(),
            Tok::LBrace => "'{'".to_owned(),
            Tok::RBrace => "'}'".to_owned(),
            Tok::LBracket => "'['".to_owned(),
            Tok::RBracket => "']'".to_owned(),
            Tok::Error => "an invalid character".to_owned(),
            Tok::Eof => "end of file".to_owned(),
        }
    }
}

#[derive(Debug, Clone)]
pub(crate) struct Token {
    pub tok: Tok,
    pub span: Span,
    /// No whitespace between the previous token and this one.
    pub glued: bool,
}

/// Splits `text` into tokens; the last token is always [`Tok::Eof`].
pub(crate) fn lex(file: usize, text: &str, rep: &mut Reporter) -> Vec<Token> {
    let mut lexer = Lexer {
        chars: text.chars().collect(),
        pos: 0,
        file,
        line: 1,
        col: 1,
        glued: false,
        tokens: Vec::new(),
    };
    lexer.run(rep);
    lexer.tokens
}

fn is_ident_start(c: char) -> bool {
    c.is_ascii_alphabetic() || c == '_'
}

fn is_ident_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_'
}

struct Lexer {
    chars: Vec<char>,
    pos: usize,
    file: usize,
    line: u32,
    col: u32,
    glued: bool,
    tokens: Vec<Token>,
}

impl Lexer {
    fn run(&mut self, rep: &mut Reporter) {
        while let Some(c) = self.peek(0) {
            let start = self.span();
            if matches!(c, ' ' | '\t' | '\r' | '\u{feff}') {
                self.bump();
                self.glued = false;
                continue;
            }
            let tok = match c {
                '\n' => {
                    self.bump();
                    Tok::Newline
                }
                '#' => {
                    self.bump();
                    Tok::Comment(self.take_while(|c| c != '\n'))
                }
                '"' => self.string(start, rep),
                '@' => {
                    self.bump();
                    let name = self.take_while(is_ident_char);
                    if name.is_empty() {
                        rep.error(start, "expected annotation name after '@'");
                        Tok::Error
                    } else {
                        Tok::Annot(name)
                    }
                }
                '-' if self.peek(1) == Some('>') => {
                    self.bump();
                    self.bump();
                    Tok::Arrow
                }
                '-' if self.peek(1).is_some_and(|c| c.is_ascii_digit()) => {
                    self.bump();
                    self.number(start, true, rep)
                }
                c if c.is_ascii_digit() => self.number(start, false, rep),
                c if is_ident_start(c) => Tok::Ident(self.take_while(is_ident_char)),
                _ => {
                    self.bump();
                    match c {
                        '=' => Tok::Eq,
                        '|' => Tok::Pipe,
                        ':' => Tok::Colon,
                        ',' => Tok::Comma,
                        '?' => Tok::Question,
                        '(' => Tok::LParen,
                        ')' => Tok::RParen,
                        '{' => Tok::LBrace,
                        '}' => Tok::RBrace,
                        '[' => Tok::LBracket,
                        ']' => Tok::RBracket,
                        other => {
                            rep.error(start, format!("unexpected character '{other}'"));
                            Tok::Error
                        }
                    }
                }
            };
            self.push(tok, start);
        }
        let end = self.span();
        self.push(Tok::Eof, end);
    }

    fn peek(&self, ahead: usize) -> Option<char> {
        self.chars.get(self.pos + ahead).copied()
    }

    fn bump(&mut self) -> Option<char> {
        let c = self.peek(0)?;
        self.pos += 1;
        if c == '\n' {
            self.line += 1;
            self.col = 1;
        } else {
            self.col += 1;
        }
        Some(c)
    }

    fn take_while(&mut self, keep: impl Fn(char) -> bool) -> String {
        let mut out = String::new();
        while let Some(c) = self.peek(0).filter(|&c| keep(c)) {
            out.push(c);
            self.bump();
        }
        out
    }

    fn span(&self) -> Span {
        Span {
            file: self.file,
            line: self.line,
            col: self.col,
        }
    }

    fn push(&mut self, tok: Tok, span: Span) {
        self.tokens.push(Token {
            tok,
            span,
            glued: self.glued,
        });
        self.glued = !matches!(
            self.tokens.last(),
            Some(Token {
                tok: Tok::Newline,
                ..
            })
        );
    }

    /// A string on one line; `\"`, `\\`, `\n` and `\t` are escapes.
    fn string(&mut self, start: Span, rep: &mut Reporter) -> Tok {
        self.bump();
        let mut text = String::new();
        loop {
            match self.peek(0) {
                None | Some('\n') => {
                    rep.error(start, "unterminated string")
                        .with_hint("strings end with '\"' on the same line");
                    return Tok::Str(text);
                }
                Some('"') => {
                    self.bump();
                    return Tok::Str(text);
                }
                Some('\\') => {
                    self.bump();
                    match self.peek(0) {
                        Some('n') => text.push('\n'),
                        Some('t') => text.push('\t'),
                        Some(c @ ('"' | '\\')) => text.push(c),
                        _ => {
                            text.push('\\');
                            continue;
                        }
                    }
                    self.bump();
                }
                Some(c) => {
                    text.push(c);
                    self.bump();
                }
            }
        }
    }

    /// Digits with an optional fraction; the sign, if any, is already consumed.
    fn number(&mut self, start: Span, negative: bool, rep: &mut Reporter) -> Tok {
        let mut text = String::from(if negative { "-" } else { "" });
        text.push_str(&self.take_while(|c| c.is_ascii_digit()));
        if self.peek(0) == Some('.') && self.peek(1).is_some_and(|c| c.is_ascii_digit()) {
            self.bump();
            text.push('.');
            text.push_str(&self.take_while(|c| c.is_ascii_digit()));
        }
        match text.parse() {
            Ok(n) => Tok::Number(n),
            Err(_) => {
                rep.error(start, format!("invalid number '{text}'"));
                Tok::Error
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kinds(text: &str) -> Vec<Tok> {
        let mut rep = Reporter::new(vec!["t".into()]);
        lex(0, text, &mut rep).into_iter().map(|t| t.tok).collect()
    }

    #[test]
    fn tokens_and_positions() {
        let mut rep = Reporter::new(vec!["t".into()]);
        let tokens = lex(0, "a: [str] @min(-1.5) -> \"x\\\"y\" # c\n}", &mut rep);
        let shown: Vec<String> = tokens
            .iter()
            .map(|t| format!("{}:{} {:?}", t.span.line, t.span.col, t.tok))
            .collect();
        assert_eq!(
            shown,
            [
                "1:1 Ident(\"a\")",
                "1:2 Colon",
                "1:4 LBracket",
                "1:5 Ident(\"str\")",
                "1:8 RBracket",
                "1:10 Annot(\"min\")",
                "1:14 LParen",
                "1:15 Number(-1.5)",
                "1:19 RParen",
                "1:21 Arrow",
                "1:24 Str(\"x\\\"y\")",
                "1:31 Comment(\" c\")",
                "1:34 Newline",
                "2:1 RBrace",
                "2:2 Eof",
            ]
        );
        assert!(!rep.has_errors());
    }

    #[test]
    fn glued_marks_adjacent_tokens() {
        let mut rep = Reporter::new(vec!["t".into()]);
        let tokens = lex(0, "@a(x) @b (y)", &mut rep);
        let glued: Vec<bool> = tokens.iter().map(|t| t.glued).collect();
        assert_eq!(
            glued,
            [false, true, true, true, false, false, true, true, true]
        );
    }

    #[test]
    fn bad_input_is_reported() {
        assert_eq!(kinds("$"), [Tok::Error, Tok::Eof]);
        assert_eq!(kinds("\"abc"), [Tok::Str("abc".into()), Tok::Eof]);
        assert_eq!(kinds("@ x"), [Tok::Error, Tok::Ident("x".into()), Tok::Eof]);
    }
}
