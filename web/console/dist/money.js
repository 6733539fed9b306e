// Amounts are decimal strings on the wire; sums and products are done on
// integers scaled to the longest fraction, so no cent is lost to floats.
function parse(amount) {
    const m = /^(-?)(\d+)(?:\.(\d+))?$/.exec(amount.trim());
    if (m === null)
        throw new Error(`not an amount: ${amount}`);
    const fraction = m[3] ?? "";
    const digits = BigInt(`${m[2] ?? "0"}${fraction}`);
    return { digits: m[1] === "-" ? -digits : digits, scale: fraction.length };
}
function format(digits, scale) {
    const negative = digits < 0n;
    let s = (negative ? -digits : digits).toString().padStart(scale + 1, "0");
    if (scale > 0) {
        s = `${s.slice(0, -scale)}.${s.slice(-scale)}`.replace(/\.?0+$/, "");
    }
    return negative ? `-${s}` : s;
}
/** The exact sum of decimal amounts. */
export function sum(amounts) {
    const parsed = amounts.map(parse);
    const scale = Math.max(0, ...parsed.map((p) => p.scale));
    const total = parsed.reduce((acc, p) => acc + p.digits * 10n ** BigInt(scale - p.scale), 0n);
    return format(total, scale);
}
/** `amount` times a whole number. */
export function times(amount, n) {
    const p = parse(amount);
    return format(p.digits * BigInt(n), p.scale);
}
/** An amount with the currency symbol. */
export function tfc(amount) {
    return `${amount} TFC`;
}
