// Jest runs tests in a vm realm whose Symbol lacks the Symbol.dispose / Symbol.asyncDispose that Node (>= 18.18, 20)
// adds to its main realm; give the test realm Node's own symbols so `using` behaves as it does for users.
if (typeof Symbol.dispose !== 'symbol') Object.defineProperty(Symbol, 'dispose', { value: Symbol.for('nodejs.dispose') });
if (typeof Symbol.asyncDispose !== 'symbol') Object.defineProperty(Symbol, 'asyncDispose', { value: Symbol.for('nodejs.asyncDispose') });
