//! A pooled PostgreSQL connection driven on the thread that uses it, with
//! pipelining.
//!
//! Storage runs on blocking threads, so each connection owns a
//! current-thread runtime and is driven only while its user waits, the way
//! the blocking `postgres` client works. Unlike that client, a statement can
//! be *sent* now and *awaited* later ([`Pipeline`]): statements whose
//! answers nobody needs yet (the writes of a transaction) go out in one
//! flight with the next one whose answer is needed, so a transaction costs
//! a round trip per read instead of one per statement. On a loopback or
//! virtualised network a round trip (two wake-ups of two processes) costs
//! far more than the statement itself.

use std::collections::HashMap;
use std::future::{Future, poll_fn};
use std::pin::Pin;
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use tokio_postgres::tls::NoTlsStream;
use tokio_postgres::types::ToSql;
use tokio_postgres::{Client, Config, Error, NoTls, Row, Socket, Statement};

use super::describe_error;

/// How a statement of several writes starts (`store::combine`): their
/// shapes vary with the closures, so a connection keeps only so many.
pub(crate) const COMBINED: &str = "WITH w0 AS (";

/// The most prepared statements a connection keeps before it lets go of
/// those of several writes.
const MOST_STATEMENTS: usize = 256;

/// A statement on its way: sent already, its answer still to come.
pub(crate) type Sent<'c> = Pin<Box<dyn Future<Output = Result<Answer, Error>> + 'c>>;

/// What a statement answered.
pub(crate) enum Answer {
    Count(u64),
    Rows(Vec<Row>),
    Done,
}

/// Owned parameters, so a statement can wait for its answer after its
/// caller returned.
pub(crate) type Params = Vec<Box<dyn ToSql + Sync + Send>>;

/// How long a pooled connection's statement waits for a row another
/// transaction holds before it gives up: the write then runs again alone,
/// after its own backoff. Writes in different lanes or processes that wait
/// for each other's rows would otherwise wait for PostgreSQL's deadlock
/// check (a second) or hold up their whole group.
const ROW_WAIT: Duration = Duration::from_millis(100);

/// The socket side of a connection, polled only while someone waits.
struct Link {
    runtime: tokio::runtime::Runtime,
    connection: tokio_postgres::Connection<Socket, NoTlsStream>,
}

impl Link {
    /// Drive the connection until `future` is ready. The connection ending
    /// (the server gone) ends the wait too, with its error.
    fn drive<T>(
        &mut self,
        client: &Client,
        future: impl Future<Output = Result<T, Error>>,
    ) -> Result<T, Error> {
        let connection = &mut self.connection;
        let mut future = std::pin::pin!(future);
        self.runtime.block_on(poll_fn(|cx| {
            if let Poll::Ready(result) = future.as_mut().poll(cx) {
                return Poll::Ready(result);
            }
            loop {
                match connection.poll_message(cx) {
                    // notices and notifications: nobody here listens
                    Poll::Ready(Some(Ok(_))) => continue,
                    Poll::Ready(Some(Err(e))) => return Poll::Ready(Err(e)),
                    Poll::Ready(None) => {
                        if let Poll::Ready(result) = future.as_mut().poll(cx) {
                            return Poll::Ready(result);
                        }
                        // Nothing will answer it now; a request on the
                        // closed connection fails at once, saying so.
                        let mut probe = std::pin::pin!(client.batch_execute(""));
                        return match probe.as_mut().poll(cx) {
                            Poll::Ready(Err(e)) => Poll::Ready(Err(e)),
                            _ => Poll::Pending,
                        };
                    }
                    Poll::Pending => return Poll::Pending,
                }
            }
        }))
    }

    /// Send what is queued and handle what arrived, without waiting: a
    /// connection the server closed while it sat in the pool is found out
    /// here.
    fn poll_now(&mut self) {
        let connection = &mut self.connection;
        self.runtime.block_on(async {
            // lets the runtime look at the socket once
            tokio::task::yield_now().await;
            poll_fn(|cx| {
                while let Poll::Ready(Some(Ok(_))) = connection.poll_message(cx) {}
                Poll::Ready(())
            })
            .await;
        });
    }
}

/// Why a connection could not be opened.
#[derive(Debug, thiserror::Error)]
pub(crate) enum ConnectError {
    #[error("{0}")]
    Postgres(String),
    #[error("cannot start the connection's runtime: {0}")]
    Runtime(String),
}

/// A connection, its runtime and its prepared statements.
pub(crate) struct Conn {
    client: Client,
    link: Link,
    statements: HashMap<String, Statement>,
    /// Not to be used again: the pool closes it.
    discarded: bool,
}

impl Conn {
    pub fn connect(config: &Config, statement_timeout: Duration) -> Result<Conn, ConnectError> {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_io()
            .enable_time()
            .build()
            .map_err(|e| ConnectError::Runtime(e.to_string()))?;
        let (client, connection) = runtime
            .block_on(config.connect(NoTls))
            .map_err(|e| ConnectError::Postgres(describe_error(&e)))?;
        let mut conn = Conn {
            client,
            link: Link {
                runtime,
                connection,
            },
            statements: HashMap::new(),
            discarded: false,
        };
        conn.batch_execute(&format!(
            "SET statement_timeout = {}; SET lock_timeout = {}",
            statement_timeout.as_millis(),
            ROW_WAIT.as_millis()
        ))
        .map_err(|e| ConnectError::Postgres(describe_error(&e)))?;
        Ok(conn)
    }

    pub fn is_closed(&mut self) -> bool {
        self.link.poll_now();
        self.discarded || self.client.is_closed()
    }

    /// Mark the connection as not to be used again (its session may hold
    /// what it could not let go of): the pool drops it, closing it.
    pub fn discard(&mut self) {
        self.discarded = true;
    }

    /// Send `sql` (statements without parameters) and go on without its
    /// answer, which is read and dropped the next time the connection is
    /// used. It is written to the socket now.
    pub fn send_and_forget(&mut self, sql: &'static str) {
        drop(self.pipeline().batch(sql));
        self.link.poll_now();
    }

    /// Run `sql` (one or more statements, no parameters) and wait.
    pub fn batch_execute(&mut self, sql: &str) -> Result<(), Error> {
        let client = &self.client;
        self.link.drive(client, client.batch_execute(sql))
    }

    pub fn query(&mut self, sql: &str, params: &[&(dyn ToSql + Sync)]) -> Result<Vec<Row>, Error> {
        let statement = self.statement(sql)?;
        let client = &self.client;
        self.link.drive(client, client.query(&statement, params))
    }

    pub fn execute(&mut self, sql: &str, params: &[&(dyn ToSql + Sync)]) -> Result<u64, Error> {
        let statement = self.statement(sql)?;
        let client = &self.client;
        self.link.drive(client, client.execute(&statement, params))
    }

    fn statement(&mut self, sql: &str) -> Result<Statement, Error> {
        self.pipeline().statement(sql)
    }

    /// The connection as a pipeline: statements sent now, answers awaited
    /// in order later.
    pub fn pipeline(&mut self) -> Pipeline<'_> {
        Pipeline {
            client: &self.client,
            link: &mut self.link,
            statements: &mut self.statements,
        }
    }
}

/// A connection borrowed for sending statements ahead of their answers.
pub(crate) struct Pipeline<'c> {
    client: &'c Client,
    link: &'c mut Link,
    statements: &'c mut HashMap<String, Statement>,
}

/// Poll once, so the statement's request is queued behind those sent
/// before it (a statement is queued when first polled).
fn sent(mut future: Sent<'_>) -> Sent<'_> {
    let mut cx = Context::from_waker(Waker::noop());
    // Ready only on an immediate failure, which the later await sees again.
    let _ = future.as_mut().poll(&mut cx);
    future
}

impl<'c> Pipeline<'c> {
    /// The prepared statement for `sql`; preparing it (on first use) waits
    /// for everything sent before.
    pub fn statement(&mut self, sql: &str) -> Result<Statement, Error> {
        if let Some(s) = self.statements.get(sql) {
            return Ok(s.clone());
        }
        let s = self.link.drive(self.client, self.client.prepare(sql))?;
        if self.statements.len() >= MOST_STATEMENTS {
            self.statements.retain(|k, _| !k.starts_with(COMBINED));
        }
        self.statements.insert(sql.to_string(), s.clone());
        Ok(s)
    }

    /// Send a statement whose row count is its answer.
    pub fn execute(&self, statement: Statement, params: Params) -> Sent<'c> {
        let client = self.client;
        sent(Box::pin(async move {
            let refs: Vec<&(dyn ToSql + Sync)> = params.iter().map(|p| &**p as _).collect();
            client.execute(&statement, &refs).await.map(Answer::Count)
        }))
    }

    /// Send a statement whose rows are its answer.
    pub fn query(&self, statement: Statement, params: Params) -> Sent<'c> {
        let client = self.client;
        sent(Box::pin(async move {
            let refs: Vec<&(dyn ToSql + Sync)> = params.iter().map(|p| &**p as _).collect();
            client.query(&statement, &refs).await.map(Answer::Rows)
        }))
    }

    /// Send statements without parameters (`BEGIN`, savepoints).
    pub fn batch(&self, sql: &'static str) -> Sent<'c> {
        let client = self.client;
        sent(Box::pin(async move {
            client.batch_execute(sql).await.map(|()| Answer::Done)
        }))
    }

    /// Send `statement` behind `sent` and wait for all of them: their
    /// answers and its own (its rows when `rows`, else its row count).
    #[allow(clippy::type_complexity)]
    pub fn run_behind(
        &mut self,
        sent: Vec<Sent<'c>>,
        statement: &Statement,
        params: &[&(dyn ToSql + Sync)],
        rows: bool,
    ) -> Result<(Vec<Result<Answer, Error>>, Result<Answer, Error>), Error> {
        let client = self.client;
        let last = self::sent(if rows {
            Box::pin(async move { client.query(statement, params).await.map(Answer::Rows) })
        } else {
            Box::pin(async move { client.execute(statement, params).await.map(Answer::Count) })
        });
        self.link
            .drive(client, async move { Ok((answers(sent).await, last.await)) })
    }

    /// Wait for the answers of `sent`, in order; `Err` when the
    /// connection failed before they all came.
    pub fn wait(&mut self, sent: Vec<Sent<'c>>) -> Result<Vec<Result<Answer, Error>>, Error> {
        self.link
            .drive(self.client, async move { Ok(answers(sent).await) })
    }
}

/// The answers of `sent`, in order (they were sent in that order).
async fn answers(sent: Vec<Sent<'_>>) -> Vec<Result<Answer, Error>> {
    let mut answers = Vec::with_capacity(sent.len());
    for s in sent {
        answers.push(s.await);
    }
    answers
}
