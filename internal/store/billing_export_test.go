package store

import "context"

type orderPricedKey struct{}

// WithOrderPricedHook returns ctx under which CreateOrder calls f after it
// has checked and priced the order and before it writes it.
func WithOrderPricedHook(ctx context.Context, f func()) context.Context {
	return context.WithValue(ctx, orderPricedKey{}, f)
}

type pricesWrittenKey struct{}

// WithPricesWrittenHook returns ctx under which PutPrices calls f after it
// has written the prices and before it commits them.
func WithPricesWrittenHook(ctx context.Context, f func()) context.Context {
	return context.WithValue(ctx, pricesWrittenKey{}, f)
}

func init() {
	orderPricedHook = func(ctx context.Context) {
		if f, ok := ctx.Value(orderPricedKey{}).(func()); ok {
			f()
		}
	}
	pricesWrittenHook = func(ctx context.Context) {
		if f, ok := ctx.Value(pricesWrittenKey{}).(func()); ok {
			f()
		}
	}
}
