//! Parser: tokens to [syntax tree](crate::ast).
//!
//! Recovers from syntax errors so that every problem is reported: a broken
//! field, parameter or method is skipped to the end of its line, a broken
//! definition to the start of the next one.

use crate::ast::{
    Annot, Arg, EnumDef, FieldDef, File, Item, MethodDef, Name, ServiceDef, ServiceKey, StructDef,
    TypeExpr, Val, ValKind,
};
use crate::diagnostic::Reporter;
use crate::lexer::{Tok, Token};
use crate::model::Span;

/// Deepest nesting of types (`[[...]]`) and annotation lists accepted.
const MAX_DEPTH: u32 = 64;

/// Parses one file's tokens (as produced by [`lex`](crate::lexer::lex)).
pub(crate) fn parse(tokens: Vec<Token>, rep: &mut Reporter) -> File {
    let eof = tokens.last().cloned().unwrap_or(Token {
        tok: Tok::Eof,
        span: Span::default(),
        glued: false,
    });
    let mut parser = Parser {
        tokens,
        pos: 0,
        eof,
        depth: 0,
        open: 0,
        rep,
    };
    parser.file()
}

/// An error was reported; the caller skips ahead and carries on.
struct Bail;

type Parsed<T> = Result<T, Bail>;

/// Doc comment and annotations written above an item.
struct Leading {
    doc: Option<String>,
    annotations: Vec<Annot>,
}

struct Parser<'r> {
    tokens: Vec<Token>,
    pos: usize,
    eof: Token,
    depth: u32,
    /// Brackets opened by the construct being parsed and not closed yet:
    /// recovery after an error inside them skips to their closers.
    open: usize,
    rep: &'r mut Reporter,
}

/// A comment's text as a doc line: without the space after `#`.
fn doc_line(text: &str) -> String {
    text.strip_prefix(' ').unwrap_or(text).trim_end().to_owned()
}

fn join_doc(lines: &[String]) -> Option<String> {
    let doc = lines.join("\n");
    let doc = doc.trim();
    (!doc.is_empty()).then(|| doc.to_owned())
}

impl Parser<'_> {
    // ---- token access -------------------------------------------------

    fn token(&self, ahead: usize) -> &Token {
        self.tokens.get(self.pos + ahead).unwrap_or(&self.eof)
    }

    fn peek(&self) -> &Tok {
        &self.token(0).tok
    }

    fn peek2(&self) -> &Tok {
        &self.token(1).tok
    }

    fn span(&self) -> Span {
        self.token(0).span
    }

    fn bump(&mut self) {
        if self.pos < self.tokens.len() {
            self.pos += 1;
        }
    }

    fn eat(&mut self, tok: &Tok) -> bool {
        let found = self.peek() == tok;
        if found {
            self.bump();
        }
        found
    }

    fn expect(&mut self, tok: &Tok, what: &str) -> Parsed<()> {
        if self.eat(tok) {
            Ok(())
        } else {
            Err(self.expected(what))
        }
    }

    fn open(&mut self) {
        self.bump();
        self.open += 1;
    }

    fn close(&mut self, tok: &Tok, what: &str) -> Parsed<()> {
        self.expect(tok, what)?;
        self.open = self.open.saturating_sub(1);
        Ok(())
    }

    /// The current token is the first of its line.
    fn at_line_start(&self) -> bool {
        self.pos == 0
            || matches!(
                self.tokens.get(self.pos - 1),
                Some(Token {
                    tok: Tok::Newline,
                    ..
                })
            )
    }

    fn prev_line(&self) -> u32 {
        self.pos
            .checked_sub(1)
            .and_then(|i| self.tokens.get(i))
            .map_or(1, |t| t.span.line)
    }

    /// The next token that is not a newline or a comment.
    fn next_significant(&self) -> &Tok {
        let mut ahead = 0;
        while matches!(self.token(ahead).tok, Tok::Newline | Tok::Comment(_)) {
            ahead += 1;
        }
        &self.token(ahead).tok
    }

    /// A line starting `Name =` or `service Name`.
    fn starts_item(&self) -> bool {
        self.at_line_start()
            && match (self.peek(), self.peek2()) {
                (Tok::Ident(_), Tok::Eq) => true,
                (Tok::Ident(keyword), Tok::Ident(_)) => keyword == "service",
                _ => false,
            }
    }

    // ---- errors and recovery ------------------------------------------

    /// Reports `expected {what}, found ...` at the current token.
    fn expected(&mut self, what: &str) -> Bail {
        let token = self.token(0);
        if token.tok != Tok::Error {
            let (span, found) = (token.span, token.tok.describe());
            self.rep
                .error(span, format!("expected {what}, found {found}"));
        }
        Bail
    }

    fn unclosed(&mut self, what: &str, open: Span) {
        let (span, found) = (self.span(), self.peek().describe());
        self.rep
            .error(
                span,
                format!("expected '}}' to close {what}, found {found}"),
            )
            .with_hint(format!("'{{' at line {}", open.line));
    }

    fn dangling(&mut self, annotations: &[Annot], what: &str) {
        for annotation in annotations {
            self.rep.error(
                annotation.name.span,
                format!(
                    "annotation '@{}' is not followed by {what}",
                    annotation.name.text
                ),
            );
        }
    }

    /// Skips to the end of the line (consuming the newline), or up to a token
    /// accepted by `stop` outside brackets (not consumed).
    fn skip(&mut self, stop: fn(&Tok) -> bool) {
        let mut depth = std::mem::take(&mut self.open);
        loop {
            let tok = self.peek();
            match tok {
                Tok::Eof => return,
                Tok::Newline => {
                    self.bump();
                    return;
                }
                _ if depth == 0 && stop(tok) => return,
                Tok::LParen | Tok::LBrace | Tok::LBracket => depth += 1,
                Tok::RParen | Tok::RBrace | Tok::RBracket => depth = depth.saturating_sub(1),
                _ => {}
            }
            self.bump();
        }
    }

    fn skip_in_block(&mut self) {
        self.skip(|tok| *tok == Tok::RBrace);
    }

    fn skip_param(&mut self) {
        self.skip(|tok| matches!(tok, Tok::Comma | Tok::RParen | Tok::RBrace));
        self.eat(&Tok::Comma);
    }

    /// After a broken definition: skips to the next line that starts one.
    fn skip_to_next_item(&mut self) {
        while !(self.starts_item() || matches!(self.peek(), Tok::Eof | Tok::Annot(_))) {
            self.skip(|_| false);
        }
    }

    /// Expects the end of the line after `what`; reports and skips anything else.
    fn end_of_line(&mut self, what: &str) {
        if !matches!(self.peek(), Tok::Newline | Tok::Eof | Tok::Comment(_)) {
            self.expected(&format!("end of line after {what}"));
            self.skip(|_| false);
        }
    }

    fn skip_newlines(&mut self) {
        while matches!(self.peek(), Tok::Newline | Tok::Comment(_)) {
            self.bump();
        }
    }

    /// Runs `parse` one nesting level deeper, refusing absurd nesting.
    fn nested<T>(&mut self, parse: fn(&mut Self) -> Parsed<T>) -> Parsed<T> {
        if self.depth >= MAX_DEPTH {
            let span = self.span();
            self.rep.error(span, "nested too deeply");
            return Err(Bail);
        }
        self.depth += 1;
        let parsed = parse(self);
        self.depth -= 1;
        parsed
    }

    // ---- pieces -------------------------------------------------------

    fn name(&mut self, what: &str) -> Parsed<Name> {
        let Tok::Ident(text) = self.peek() else {
            return Err(self.expected(what));
        };
        let name = Name {
            text: text.clone(),
            span: self.span(),
        };
        self.bump();
        Ok(name)
    }

    /// Newlines, doc comments and (if allowed) annotations before an item.
    /// The doc is the block of comment lines ending on the line just above.
    fn leading(&mut self, annotations_allowed: bool) -> Leading {
        let mut lines = Vec::new();
        let mut annotations = Vec::new();
        let mut last_line: Option<u32> = None;
        loop {
            let line = self.span().line;
            match self.peek() {
                Tok::Newline => self.bump(),
                Tok::Comment(text) => {
                    if self.at_line_start() {
                        if last_line.is_some_and(|last| last + 1 < line) {
                            lines.clear();
                        }
                        lines.push(doc_line(text));
                    }
                    last_line = Some(line);
                    self.bump();
                }
                Tok::Annot(_) if annotations_allowed => {
                    annotations.extend(self.annotation());
                    last_line = Some(self.prev_line());
                }
                _ => break,
            }
        }
        if last_line.is_some_and(|last| last + 1 < self.span().line) {
            lines.clear();
        }
        Leading {
            doc: join_doc(&lines),
            annotations,
        }
    }

    /// A trailing `# comment` on the current line, appended to `doc`.
    fn trailing_doc(&mut self, doc: &mut Option<String>) {
        if let Tok::Comment(text) = self.peek() {
            let line = doc_line(text).trim().to_owned();
            if !line.is_empty() {
                *doc = Some(match doc.take() {
                    Some(above) => format!("{above}\n{line}"),
                    None => line,
                });
            }
            self.bump();
        }
    }

    /// `@name` or `@name(args)`; `None` if its arguments were broken (reported).
    fn annotation(&mut self) -> Option<Annot> {
        let Tok::Annot(text) = self.peek() else {
            return None;
        };
        let name = Name {
            text: text.clone(),
            span: self.span(),
        };
        self.bump();
        let mut args = Vec::new();
        if *self.peek() == Tok::LParen {
            if !self.token(0).glued {
                let span = self.span();
                self.rep
                    .error(
                        span,
                        format!("unexpected space before '(' of '@{}'", name.text),
                    )
                    .with_hint(format!("write '@{}(...)'", name.text));
            }
            self.bump();
            match self.args() {
                Ok(parsed) => args = parsed,
                Err(Bail) => {
                    self.skip(|tok| *tok == Tok::RParen);
                    self.eat(&Tok::RParen);
                    return None;
                }
            }
        }
        Some(Annot { name, args })
    }

    /// Annotations following a type or a signature on the same line.
    fn trailing_annotations(&mut self, into: &mut Vec<Annot>) {
        while matches!(self.peek(), Tok::Annot(_)) {
            into.extend(self.annotation());
        }
    }

    /// Annotation arguments after the `(`, up to and including the `)`.
    fn args(&mut self) -> Parsed<Vec<Arg>> {
        let mut args = Vec::new();
        loop {
            self.skip_newlines();
            if self.eat(&Tok::RParen) {
                return Ok(args);
            }
            let key = if matches!((self.peek(), self.peek2()), (Tok::Ident(_), Tok::Colon)) {
                let key = self.name("an argument name")?;
                self.bump();
                Some(key)
            } else {
                None
            };
            let value = self.value()?;
            args.push(Arg { key, value });
            self.skip_newlines();
            if !self.eat(&Tok::Comma) && *self.peek() != Tok::RParen {
                return Err(self.expected("',' or ')' after an annotation argument"));
            }
        }
    }

    /// A name, "string", number or `[list]`.
    fn value(&mut self) -> Parsed<Val> {
        self.nested(Self::value_inner)
    }

    fn value_inner(&mut self) -> Parsed<Val> {
        let span = self.span();
        let kind = match self.peek() {
            Tok::Ident(name) => ValKind::Ident(name.clone()),
            Tok::Str(text) => ValKind::Str(text.clone()),
            Tok::Number(n) => ValKind::Number(*n),
            Tok::LBracket => {
                self.open();
                let mut items = Vec::new();
                loop {
                    self.skip_newlines();
                    if self.eat(&Tok::RBracket) {
                        self.open = self.open.saturating_sub(1);
                        return Ok(Val {
                            kind: ValKind::List(items),
                            span,
                        });
                    }
                    items.push(self.value()?);
                    self.skip_newlines();
                    if !self.eat(&Tok::Comma) && *self.peek() != Tok::RBracket {
                        return Err(self.expected("',' or ']' in a list"));
                    }
                }
            }
            _ => return Err(self.expected("a value (a name, \"string\", number or [list])")),
        };
        self.bump();
        Ok(Val { kind, span })
    }

    /// `str`, `[T]`, `{K: V}` or a type name.
    fn ty(&mut self) -> Parsed<TypeExpr> {
        self.nested(Self::ty_inner)
    }

    fn ty_inner(&mut self) -> Parsed<TypeExpr> {
        let span = self.span();
        match self.peek() {
            Tok::Ident(_) => Ok(TypeExpr::Name(self.name("type")?)),
            Tok::LBracket => {
                self.open();
                let item = self.ty()?;
                self.close(&Tok::RBracket, "']' to close the list type")?;
                Ok(TypeExpr::List(Box::new(item), span))
            }
            Tok::LBrace => {
                self.open();
                let key = self.ty()?;
                self.expect(&Tok::Colon, "':' after the map key type")?;
                let value = self.ty()?;
                self.close(&Tok::RBrace, "'}' to close the map type")?;
                Ok(TypeExpr::Map(Box::new(key), Box::new(value), span))
            }
            _ => Err(self.expected("type")),
        }
    }

    /// `name?: type @annotations`, a field (`what` = "field") or a parameter.
    fn field(&mut self, doc: Option<String>, what: &str) -> Parsed<FieldDef> {
        let name = self.name(&format!("a {what} name"))?;
        let optional = self.eat(&Tok::Question);
        self.expect(
            &Tok::Colon,
            &format!("':' after {what} name '{}'", name.text),
        )?;
        let ty = self.ty()?;
        let mut annotations = Vec::new();
        self.trailing_annotations(&mut annotations);
        Ok(FieldDef {
            name,
            optional,
            ty,
            doc,
            annotations,
        })
    }

    // ---- items --------------------------------------------------------

    fn file(&mut self) -> File {
        let mut items = Vec::new();
        loop {
            let leading = self.leading(true);
            let start = self.pos;
            let parsed =
                match (self.peek(), self.peek2()) {
                    (Tok::Eof, _) => {
                        self.dangling(&leading.annotations, "a definition");
                        break;
                    }
                    (Tok::Ident(keyword), Tok::Ident(_)) if keyword == "service" => {
                        self.service(leading).map(Item::Service)
                    }
                    (Tok::Ident(_), Tok::Eq) => self.definition(leading),
                    _ => Err(self
                        .expected("a definition ('Name = ...') or a service ('service Name {')")),
                };
            match parsed {
                Ok(item) => items.push(item),
                Err(Bail) => {
                    if self.pos == start {
                        self.bump();
                    }
                    self.skip_to_next_item();
                }
            }
        }
        File { items }
    }

    /// `Name = { ... }` or `Name = "a" | "b"`.
    fn definition(&mut self, leading: Leading) -> Parsed<Item> {
        let name = self.name("a definition name")?;
        self.bump();
        match self.peek() {
            Tok::LBrace => Ok(Item::Struct(self.struct_def(name, leading))),
            Tok::Str(_) => self.enum_def(name, leading).map(Item::Enum),
            Tok::Newline | Tok::Comment(_) | Tok::Eof => Ok(Item::Enum(EnumDef {
                name,
                doc: leading.doc,
                annotations: leading.annotations,
                variants: Vec::new(),
            })),
            _ => Err(self.expected(&format!("'{{' or a \"variant\" after '{} ='", name.text))),
        }
    }

    fn enum_def(&mut self, name: Name, leading: Leading) -> Parsed<EnumDef> {
        let mut variants = Vec::new();
        loop {
            let Tok::Str(text) = self.peek() else {
                return Err(self.expected("a \"variant\""));
            };
            variants.push((text.clone(), self.span()));
            self.bump();
            if self.eat(&Tok::Pipe) {
                self.skip_newlines();
            } else if *self.next_significant() == Tok::Pipe {
                self.skip_newlines();
                self.bump();
                self.skip_newlines();
            } else {
                break;
            }
        }
        let mut annotations = leading.annotations;
        self.trailing_annotations(&mut annotations);
        let mut doc = leading.doc;
        self.trailing_doc(&mut doc);
        self.end_of_line(&format!("enum '{}'", name.text));
        Ok(EnumDef {
            name,
            doc,
            annotations,
            variants,
        })
    }

    fn struct_def(&mut self, name: Name, leading: Leading) -> StructDef {
        let open = self.span();
        self.bump();
        let mut def = StructDef {
            name,
            doc: leading.doc,
            annotations: leading.annotations,
            fields: Vec::new(),
        };
        loop {
            let field_leading = self.leading(false);
            match self.peek() {
                Tok::RBrace => {
                    self.bump();
                    break;
                }
                _ if *self.peek() == Tok::Eof || self.starts_item() => {
                    self.unclosed(&format!("'{}'", def.name.text), open);
                    return def;
                }
                Tok::Ident(_) => match self.field(field_leading.doc, "field") {
                    Ok(mut field) => {
                        self.eat(&Tok::Comma);
                        self.trailing_doc(&mut field.doc);
                        let after = format!("field '{}'", field.name.text);
                        def.fields.push(field);
                        if !matches!(
                            self.peek(),
                            Tok::Newline | Tok::Eof | Tok::RBrace | Tok::Ident(_)
                        ) {
                            self.expected(&format!("end of line after {after}"));
                            self.skip_in_block();
                        }
                    }
                    Err(Bail) => self.skip_in_block(),
                },
                Tok::Annot(text) => {
                    let message = format!("expected a field name, found annotation '@{text}'");
                    let span = self.span();
                    self.rep
                        .error(span, message)
                        .with_hint("field annotations follow the type: 'email: str @index'");
                    self.skip_in_block();
                }
                _ => {
                    self.expected("a field name or '}'");
                    self.skip_in_block();
                }
            }
        }
        self.trailing_annotations(&mut def.annotations);
        self.trailing_doc(&mut def.doc);
        self.end_of_line(&format!("'{}'", def.name.text));
        def
    }

    fn service(&mut self, leading: Leading) -> Parsed<ServiceDef> {
        self.bump();
        let name = self.name("a service name")?;
        let open = self.span();
        if !self.eat(&Tok::LBrace) {
            let bail = self.expected(&format!("'{{' after 'service {}'", name.text));
            if !matches!(self.peek(), Tok::Newline | Tok::Comment(_)) {
                return Err(bail);
            }
        }
        let mut service = ServiceDef {
            name,
            doc: leading.doc,
            annotations: leading.annotations,
            keys: Vec::new(),
            methods: Vec::new(),
        };
        loop {
            let leading = self.leading(true);
            match (self.peek(), self.peek2()) {
                (Tok::RBrace, _) => {
                    self.dangling(&leading.annotations, "a method");
                    self.bump();
                    break;
                }
                _ if *self.peek() == Tok::Eof || self.starts_item() => {
                    self.dangling(&leading.annotations, "a method");
                    self.unclosed(&format!("service '{}'", service.name.text), open);
                    return Ok(service);
                }
                (Tok::Ident(key), Tok::Colon) => {
                    let is_error_line = key == "error";
                    self.dangling(&leading.annotations, "a method");
                    if is_error_line {
                        self.error_line(&mut service);
                    } else {
                        self.service_key(&mut service);
                    }
                }
                (Tok::Ident(_), Tok::LParen) => match self.method(leading) {
                    Ok(method) => {
                        let after = format!("method '{}'", method.name.text);
                        service.methods.push(method);
                        if !(self.at_line_start()
                            || matches!(self.peek(), Tok::Newline | Tok::Eof | Tok::RBrace))
                        {
                            self.expected(&format!("end of line after {after}"));
                            self.skip_in_block();
                        }
                    }
                    Err(Bail) => self.skip_in_block(),
                },
                _ => {
                    self.dangling(&leading.annotations, "a method");
                    self.expected(
                        "a method ('name(params) -> Type') or a key ('version: \"1.0\"')",
                    );
                    self.skip_in_block();
                }
            }
        }
        self.trailing_doc(&mut service.doc);
        self.end_of_line(&format!("service '{}'", service.name.text));
        Ok(service)
    }

    /// `key: value` inside a service block.
    fn service_key(&mut self, service: &mut ServiceDef) {
        let Ok(name) = self.name("a key") else {
            return;
        };
        self.bump();
        match self.value() {
            Ok(value) => {
                let after = format!("'{}:'", name.text);
                service.keys.push(ServiceKey { name, value });
                self.end_of_line(&after);
            }
            Err(Bail) => self.skip_in_block(),
        }
    }

    /// `error: A | B`, adding to the method above.
    fn error_line(&mut self, service: &mut ServiceDef) {
        let at = self.span();
        self.bump();
        self.bump();
        let mut names = Vec::new();
        loop {
            match self.name("an error type name") {
                Ok(name) => names.push(name),
                Err(Bail) => {
                    self.skip_in_block();
                    return;
                }
            }
            if self.eat(&Tok::Pipe) {
                self.skip_newlines();
            } else if *self.next_significant() == Tok::Pipe {
                self.skip_newlines();
                self.bump();
                self.skip_newlines();
            } else {
                break;
            }
        }
        match service.methods.last_mut() {
            Some(method) => method.errors.extend(names),
            None => {
                self.rep
                    .error(at, "'error:' line without a method above it")
                    .with_hint("'error:' lines follow the method they belong to");
            }
        }
        self.end_of_line("'error:' line");
    }

    /// `name(params) -> Result @annotations # doc`
    fn method(&mut self, leading: Leading) -> Parsed<MethodDef> {
        let name = self.name("a method name")?;
        self.bump();
        let (params, closed) = self.params(&name);
        let mut method = MethodDef {
            name,
            params,
            result: None,
            errors: Vec::new(),
            doc: leading.doc,
            annotations: leading.annotations,
        };
        if closed {
            if self.eat(&Tok::Arrow) {
                method.result = Some(self.ty()?);
            }
            self.trailing_annotations(&mut method.annotations);
            self.trailing_doc(&mut method.doc);
        }
        Ok(method)
    }

    /// Parameters after the `(`, up to and including the `)`; the flag is
    /// false when the `)` is missing (reported).
    fn params(&mut self, method: &Name) -> (Vec<FieldDef>, bool) {
        let mut params = Vec::new();
        loop {
            let leading = self.leading(false);
            let missing_paren = match (self.peek(), self.peek2()) {
                (Tok::RBrace | Tok::Eof, _) => true,
                (Tok::Ident(_), Tok::LParen) => self.at_line_start(),
                _ => self.starts_item(),
            };
            if missing_paren {
                self.expected(&format!("')' after the parameters of '{}'", method.text));
                return (params, false);
            }
            match self.peek() {
                Tok::RParen => {
                    self.bump();
                    return (params, true);
                }
                Tok::Ident(_) => match self.field(leading.doc, "parameter") {
                    Ok(mut param) => {
                        let comma = self.eat(&Tok::Comma);
                        self.trailing_doc(&mut param.doc);
                        let after = format!("parameter '{}'", param.name.text);
                        params.push(param);
                        let next_ok = matches!(
                            self.peek(),
                            Tok::RParen | Tok::Newline | Tok::RBrace | Tok::Eof
                        ) || (comma && matches!(self.peek(), Tok::Ident(_)));
                        if !next_ok {
                            self.expected(&format!("',' or ')' after {after}"));
                            self.skip_param();
                        }
                    }
                    Err(Bail) => self.skip_param(),
                },
                _ => {
                    self.expected("a parameter name or ')'");
                    self.skip_param();
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lexer::lex;

    fn parse_text(text: &str) -> (File, Vec<String>) {
        let mut rep = Reporter::new(vec!["t".into()]);
        let tokens = lex(0, text, &mut rep);
        let file = parse(tokens, &mut rep);
        let diagnostics = rep.finish().iter().map(ToString::to_string).collect();
        (file, diagnostics)
    }

    #[test]
    fn docs_attach_to_the_next_item_only_without_a_blank_line() {
        let (file, diagnostics) =
            parse_text("# header\n\n# first\n# second\nA = \"x\" # trailing\n# lost\n\nB = {}\n");
        assert!(diagnostics.is_empty(), "{diagnostics:?}");
        let docs: Vec<Option<String>> = file
            .items
            .iter()
            .map(|item| match item {
                Item::Enum(e) => e.doc.clone(),
                Item::Struct(s) => s.doc.clone(),
                Item::Service(s) => s.doc.clone(),
            })
            .collect();
        assert_eq!(docs, [Some("first\nsecond\ntrailing".to_owned()), None]);
    }

    #[test]
    fn method_annotations_above_and_after() {
        let (file, diagnostics) = parse_text(
            "service S {\n  # doc\n  @access(user)\n  m(a: str,\n    b?: [u8] @min(1)) -> X @mutates # more\n    error: E | F\n    error: G\n}\n",
        );
        assert!(diagnostics.is_empty(), "{diagnostics:?}");
        let Some(Item::Service(service)) = file.items.first() else {
            panic!("no service: {file:?}");
        };
        let method = &service.methods[0];
        let annotations: Vec<&str> = method
            .annotations
            .iter()
            .map(|a| a.name.text.as_str())
            .collect();
        assert_eq!(annotations, ["access", "mutates"]);
        assert_eq!(method.doc.as_deref(), Some("doc\nmore"));
        assert_eq!(method.params.len(), 2);
        let errors: Vec<&str> = method.errors.iter().map(|e| e.text.as_str()).collect();
        assert_eq!(errors, ["E", "F", "G"]);
    }
}
