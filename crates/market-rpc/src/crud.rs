//! Generic CRUD methods for root objects that declare `@crud` in the schema.
//!
//! The generated code only supplies [`CrudRecord`] (how params become a
//! record) and a table of operations and access levels; everything else is
//! here, written once.

use std::sync::Arc;

use market_store::{Db, Id, Index, Page, PageRequest, Reads, Record};

use crate::ctx::{Access, Ctx};
use crate::error::RpcError;
use crate::methods::{Kind, Methods, Ok};
use crate::params::{FieldErrors, FromParams, ParamReader, Shape, Validate};
use crate::redact::Redact;

/// Default and largest page sizes of every list.
pub const DEFAULT_LIMIT: u32 = 50;
pub const MAX_LIMIT: u32 = 500;

/// The generated CRUD operations.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CrudOp {
    Create,
    Get,
    List,
    Find,
    Update,
    Delete,
}

/// What generated code provides for a root object with `@crud`.
pub trait CrudRecord: Record + Redact + Validate + Clone {
    /// The client-writable fields of a new object.
    type Create: FromParams + Send + 'static;
    /// `id`, `expected_version` and the client-writable fields, all optional.
    type Update: FromParams + Send + 'static;

    /// A new object from create params; `owner` fills the `@owner` field.
    fn from_create(input: Self::Create, owner: Option<Id>) -> Self;
    /// The id and expected version an update names.
    fn update_target(input: &Self::Update) -> (Id, Option<u64>);
    /// Apply the fields an update sets; absent fields stay unchanged.
    fn apply_update(&mut self, input: Self::Update);
    /// The index of the `@owner` field (which is always indexed).
    const OWNER_INDEX: Option<Index<Self>>;

    /// The `@owner` field's value, if the type has one.
    fn owner(&self) -> Option<Id>;
}

/// `limit` and `cursor` of a list, checked.
pub fn page_request(limit: Option<u32>, cursor: Option<String>) -> Result<PageRequest, RpcError> {
    let mut errs = FieldErrors::default();
    let limit = limit.unwrap_or(DEFAULT_LIMIT);
    if limit == 0 || limit > MAX_LIMIT {
        errs.add("limit", format!("must be between 1 and {MAX_LIMIT}"));
    }
    errs.into_result()?;
    Ok(PageRequest {
        limit: limit as usize,
        cursor,
    })
}

/// `{id}`
pub struct IdParams {
    pub id: Id,
}

impl FromParams for IdParams {
    fn from_params(r: &mut ParamReader) -> Result<Self, RpcError> {
        Ok(IdParams {
            id: r.required("id", Shape::String)?,
        })
    }
}

/// `{limit?, cursor?}`
pub struct ListParams {
    pub page: PageRequest,
}

impl FromParams for ListParams {
    fn from_params(r: &mut ParamReader) -> Result<Self, RpcError> {
        let limit = r.optional("limit", Shape::Integer);
        let cursor = r.optional("cursor", Shape::String);
        Ok(ListParams {
            page: page_request(limit?, cursor?)?,
        })
    }
}

/// `{field, value, limit?, cursor?}`
pub struct FindParams {
    pub field: String,
    pub value: String,
    pub page: PageRequest,
}

impl FromParams for FindParams {
    fn from_params(r: &mut ParamReader) -> Result<Self, RpcError> {
        let field = r.required("field", Shape::String);
        let value = r.required::<serde_json::Value>("value", Shape::Any);
        let limit = r.optional("limit", Shape::Integer);
        let cursor = r.optional("cursor", Shape::String);
        let value = match value? {
            serde_json::Value::String(s) => s,
            other => other.to_string(),
        };
        Ok(FindParams {
            field: field?,
            value,
            page: page_request(limit?, cursor?)?,
        })
    }
}

fn visible<T: CrudRecord>(ctx: &Ctx, access: Access, obj: &T) -> bool {
    access != Access::OwnerOrAdmin || obj.owner().is_some_and(|o| ctx.owns(o))
}

fn not_found<T: Record>() -> RpcError {
    RpcError::not_found(format!("{} not found", T::KIND))
}

/// Register the operations `ops` of `T` under `namespace`. Method names are
/// leaked once at start-up to get the `'static` names the table keys on.
pub fn register<T: CrudRecord>(
    methods: &mut Methods,
    db: Arc<Db>,
    namespace: &str,
    ops: &[(CrudOp, Access)],
) {
    for &(op, access) in ops {
        let db = db.clone();
        let name =
            |m: &str| -> &'static str { Box::leak(format!("{namespace}.{m}").into_boxed_str()) };
        match op {
            CrudOp::Create => methods.add(
                name("create"),
                access,
                Kind::Write,
                move |ctx: &Ctx, p: T::Create| {
                    let mut obj = T::from_create(p, ctx.user_id());
                    obj.validate()?;
                    ctx.write(&db, |tx| {
                        tx.insert(&mut obj)?;
                        Result::<_, RpcError>::Ok(obj.clone())
                    })
                },
            ),
            CrudOp::Get => methods.add(
                name("get"),
                access,
                Kind::Lookup,
                move |ctx: &Ctx, p: IdParams| {
                    let obj: T = db
                        .read_each(|tx| tx.get(p.id))?
                        .ok_or_else(not_found::<T>)?;
                    if visible(ctx, access, &obj) {
                        Result::Ok(obj)
                    } else {
                        Err(not_found::<T>())
                    }
                },
            ),
            CrudOp::List => methods.add(
                name("list"),
                access,
                Kind::Read,
                move |ctx: &Ctx, p: ListParams| list::<T>(&db, ctx, access, &p.page),
            ),
            CrudOp::Find => methods.add(
                name("find"),
                access,
                Kind::Read,
                move |ctx: &Ctx, p: FindParams| {
                    let Some(spec) = T::INDEXES.iter().find(|i| i.field == p.field) else {
                        let names: Vec<&str> = T::INDEXES.iter().map(|i| i.field).collect();
                        let reason =
                            format!("not an indexed field (indexed: {})", names.join(", "));
                        return Err(RpcError::invalid_fields(
                            [("field".to_string(), reason)].into(),
                        ));
                    };
                    let index = Index::<T>::new(spec);
                    let mut page: Page<T> = db.read(|tx| tx.find_in(index, &p.value, &p.page))?;
                    page.items.retain(|o| visible(ctx, access, o));
                    Result::Ok(page)
                },
            ),
            CrudOp::Update => methods.add(
                name("update"),
                access,
                Kind::Write,
                move |ctx: &Ctx, p: T::Update| {
                    let (id, expected) = T::update_target(&p);
                    let mut p = Some(p);
                    ctx.write(&db, |tx| {
                        let mut obj: T = tx.get(id)?.ok_or_else(not_found::<T>)?;
                        if !visible(ctx, access, &obj) {
                            return Err(not_found::<T>());
                        }
                        if let Some(p) = p.take() {
                            obj.apply_update(p);
                        }
                        obj.validate()?;
                        tx.update(&mut obj, expected)?;
                        Result::Ok(obj)
                    })
                },
            ),
            CrudOp::Delete => methods.add(
                name("delete"),
                access,
                Kind::Write,
                move |ctx: &Ctx, p: IdParams| {
                    ctx.write(&db, |tx| {
                        let obj: T = tx.get(p.id)?.ok_or_else(not_found::<T>)?;
                        if !visible(ctx, access, &obj) {
                            return Err(not_found::<T>());
                        }
                        tx.delete::<T>(p.id)?;
                        Result::Ok(Ok::TRUE)
                    })
                },
            ),
        }
    }
}

fn list<T: CrudRecord>(
    db: &Db,
    ctx: &Ctx,
    access: Access,
    page: &PageRequest,
) -> Result<Page<T>, RpcError> {
    let own_only = access == Access::OwnerOrAdmin && !ctx.is_admin();
    match (own_only, T::OWNER_INDEX, ctx.user_id()) {
        (false, _, _) => Ok(db.read(|tx| tx.list(page))?),
        (true, Some(index), Some(me)) => {
            Ok(db.read(|tx| tx.find_in(index, &me.to_string(), page))?)
        }
        _ => Ok(Page {
            items: Vec::new(),
            next_cursor: None,
        }),
    }
}
