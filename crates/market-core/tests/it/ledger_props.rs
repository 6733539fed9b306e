//! Random sequences of grants, transfers and top-ups over the socket,
//! checked step by step against a model of the balances in micro-TFC.

use market_testkit::Client;
use proptest::prelude::*;
use proptest::test_runner::RngSeed;
use rust_decimal::Decimal;
use rust_decimal::prelude::ToPrimitive;
use serde_json::json;

use crate::support::*;

const USERS: usize = 3;
const MICRO: i64 = 1_000_000;

/// An amount as a client might send it.
#[derive(Debug, Clone)]
enum Amount {
    /// A positive amount in micro-TFC (at most six places).
    Valid(i64),
    Zero,
    /// Minus this many micro-TFC.
    Negative(i64),
    /// This many tenths of a micro-TFC, not a whole number of them: seven places.
    TooPrecise(i64),
}

impl Amount {
    fn text(&self) -> String {
        match self {
            Amount::Valid(m) => format!("{}.{:06}", m / MICRO, m % MICRO),
            Amount::Zero => "0".to_string(),
            Amount::Negative(m) => format!("-{}.{:06}", m / MICRO, m % MICRO),
            Amount::TooPrecise(t) => format!("{}.{:07}", t / (10 * MICRO), t % (10 * MICRO)),
        }
    }

    fn micros(&self) -> Option<i64> {
        match self {
            Amount::Valid(m) => Some(*m),
            _ => None,
        }
    }
}

#[derive(Debug, Clone)]
enum Op {
    Grant {
        to: usize,
        amount: Amount,
    },
    Topup {
        who: usize,
        amount: Amount,
    },
    Transfer {
        from: usize,
        to: usize,
        amount: Amount,
    },
    TransferToStranger {
        from: usize,
        amount: Amount,
    },
}

fn amount() -> impl Strategy<Value = Amount> {
    prop_oneof![
        6 => (1i64..=20 * MICRO).prop_map(Amount::Valid),
        2 => (1i64..=500 * MICRO).prop_map(Amount::Valid),
        1 => Just(Amount::Zero),
        1 => (1i64..=10 * MICRO).prop_map(Amount::Negative),
        1 => (1i64..=100 * MICRO)
            .prop_filter("a seventh place", |t| t % 10 != 0)
            .prop_map(Amount::TooPrecise),
    ]
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        2 => (0..USERS, amount()).prop_map(|(to, amount)| Op::Grant { to, amount }),
        1 => (0..USERS, amount()).prop_map(|(who, amount)| Op::Topup { who, amount }),
        6 => (0..USERS, 0..USERS, amount())
            .prop_map(|(from, to, amount)| Op::Transfer { from, to, amount }),
        1 => (0..USERS, amount()).prop_map(|(from, amount)| Op::TransferToStranger { from, amount }),
    ]
}

fn email(i: usize) -> String {
    format!("user{i}@example.com")
}

/// What the model says an op does: `Ok(())` or the error code, and the new balances.
fn expect(op: &Op, balances: &mut [i64; USERS]) -> Result<(), i64> {
    match op {
        Op::Grant { to, amount } | Op::Topup { who: to, amount } => {
            let m = amount.micros().ok_or(4000)?;
            balances[*to] += m;
            Ok(())
        }
        Op::Transfer { from, to, amount } => {
            let m = amount.micros().ok_or(4000)?;
            if from == to {
                return Err(4000);
            }
            if balances[*from] < m {
                return Err(4020);
            }
            balances[*from] -= m;
            balances[*to] += m;
            Ok(())
        }
        Op::TransferToStranger { from, amount } => {
            let m = amount.micros().ok_or(4000)?;
            // funds are checked before the recipient is looked up
            if balances[*from] < m {
                return Err(4020);
            }
            Err(4040)
        }
    }
}

/// Run an op over the socket: `Ok(())` or the error code.
fn run(op: &Op, admin: &Client, users: &[(Client, String)]) -> Result<(), i64> {
    let result = match op {
        Op::Grant { to, amount } => admin.call(
            "wallet.grant",
            json!({"user_id": users[*to].1, "amount": amount.text(), "reason": "model"}),
        ),
        Op::Topup { who, amount } => users[*who]
            .0
            .call("wallet.topup", json!({"amount": amount.text()})),
        Op::Transfer { from, to, amount } => users[*from].0.call(
            "wallet.transfer",
            json!({"to_email": email(*to), "amount": amount.text()}),
        ),
        Op::TransferToStranger { from, amount } => users[*from].0.call(
            "wallet.transfer",
            json!({"to_email": "stranger@example.com", "amount": amount.text()}),
        ),
    };
    result
        .map(|_| ())
        .map_err(|e| e["code"].as_i64().unwrap_or_default())
}

/// A decimal TFC amount in micro-TFC (panics if it has more than six places).
fn micros(d: Decimal) -> i64 {
    let m = d * Decimal::from(MICRO);
    assert!(m.fract().is_zero(), "{d} has more than six places");
    m.to_i64().expect("fits in i64")
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: 16,
        rng_seed: RngSeed::Fixed(0x7fc_1ed9e7),
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    #[test]
    fn random_ledger_operations_match_a_model(ops in prop::collection::vec(op(), 20)) {
        let e = start();
        let (admin, _) = e.admin();
        let users: Vec<(Client, String)> = (0..USERS)
            .map(|i| {
                let (c, u) = e.register(&email(i));
                (c, id_of(&u))
            })
            .collect();
        let mut model = [0i64; USERS];
        for (step, op) in ops.iter().enumerate() {
            let expected = expect(op, &mut model);
            let actual = run(op, &admin, &users);
            prop_assert_eq!(actual, expected, "step {}: {:?}", step, op);
        }
        for (i, (c, _)) in users.iter().enumerate() {
            prop_assert_eq!(micros(balance(c)), model[i], "balance of user {}", i);
            let newest = history(c).first().map(|h| dec_of(&h["balance_after"]));
            prop_assert_eq!(micros(newest.unwrap_or_default()), model[i]);
        }
        let v = verify_ok(&admin);
        prop_assert_eq!(micros(dec_of(&v["total"])), model.iter().sum::<i64>());
    }
}
