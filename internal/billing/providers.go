package billing

import (
	"errors"
	"fmt"
	"sort"
	"strings"
	"sync"
)

// ErrUnverified is wrapped by a provider's VerifyWebhook error when the
// webhook's signature does not hold (missing, wrong, tampered or too old):
// such a request deserves a 400. Any other VerifyWebhook error (the provider
// unreachable, a malformed event) may be answered with a 5xx so that the
// provider delivers the webhook again later.
var ErrUnverified = errors.New("webhook signature not verified")

// ProviderSettings describes the environment variables of one provider.
type ProviderSettings struct {
	Name     string   // "stripe", "paypal"
	Required []string // all set → the provider is on; some set → an error
	Optional []string
}

// KnownProviders lists every provider's environment variables:
//
//	GATEHOUSE_STRIPE_SECRET_KEY      Stripe secret key (sk_…/rk_…)          required
//	GATEHOUSE_STRIPE_WEBHOOK_SECRET  signing secret of the webhook (whsec_…) required
//	GATEHOUSE_STRIPE_API_URL         API base URL (stripe-mock), optional
//	GATEHOUSE_PAYPAL_CLIENT_ID       REST app client id                      required
//	GATEHOUSE_PAYPAL_SECRET          REST app secret                         required
//	GATEHOUSE_PAYPAL_WEBHOOK_ID      id of the webhook registered at PayPal  required
//	GATEHOUSE_PAYPAL_API_URL         API base URL, default sandbox (https://api-m.sandbox.paypal.com);
//	                                 live: https://api-m.paypal.com
var KnownProviders = []ProviderSettings{
	{Name: "stripe",
		Required: []string{"GATEHOUSE_STRIPE_SECRET_KEY", "GATEHOUSE_STRIPE_WEBHOOK_SECRET"},
		Optional: []string{"GATEHOUSE_STRIPE_API_URL"}},
	{Name: "paypal",
		Required: []string{"GATEHOUSE_PAYPAL_CLIENT_ID", "GATEHOUSE_PAYPAL_SECRET", "GATEHOUSE_PAYPAL_WEBHOOK_ID"},
		Optional: []string{"GATEHOUSE_PAYPAL_API_URL"}},
}

// ProviderFactory builds a provider from its settings (variable name →
// trimmed value; an unset optional variable is absent).
type ProviderFactory func(settings map[string]string) (Provider, error)

var (
	factoriesMu sync.RWMutex
	factories   = map[string]ProviderFactory{}
)

// RegisterProvider makes a provider package's constructor known to
// ProvidersFromEnv. The provider packages call it from init (this package
// cannot import them: they import it), so a program that serves payments
// imports them, e.g.
//
//	import (
//		_ "github.com/gatehouse-dev/gatehouse/internal/billing/paypal"
//		_ "github.com/gatehouse-dev/gatehouse/internal/billing/stripe"
//	)
func RegisterProvider(name string, f ProviderFactory) {
	factoriesMu.Lock()
	defer factoriesMu.Unlock()
	factories[name] = f
}

// ProvidersFromEnv builds the payment providers configured in the
// environment (see KnownProviders), keyed by Name(). A provider appears
// only when all its required variables are set; a partial configuration is
// an error naming the missing variables, and so is a configured provider
// whose package is not linked into the program.
func ProvidersFromEnv(getenv func(string) string) (map[string]Provider, error) {
	out := map[string]Provider{}
	var errs []error
	for _, ps := range KnownProviders {
		settings := map[string]string{}
		var missing []string
		for _, k := range ps.Required {
			if v := strings.TrimSpace(getenv(k)); v != "" {
				settings[k] = v
			} else {
				missing = append(missing, k)
			}
		}
		anyOptional := false
		for _, k := range ps.Optional {
			if v := strings.TrimSpace(getenv(k)); v != "" {
				settings[k] = v
				anyOptional = true
			}
		}
		if len(missing) == len(ps.Required) && !anyOptional {
			continue // not configured: the method is shown as not configured
		}
		if len(missing) > 0 {
			sort.Strings(missing)
			errs = append(errs, fmt.Errorf("%s is partly configured: %s not set", ps.Name, strings.Join(missing, ", ")))
			continue
		}
		factoriesMu.RLock()
		f := factories[ps.Name]
		factoriesMu.RUnlock()
		if f == nil {
			errs = append(errs, fmt.Errorf("%s is configured but its package is not linked into this program", ps.Name))
			continue
		}
		p, err := f(settings)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", ps.Name, err))
			continue
		}
		out[ps.Name] = p
	}
	if len(errs) > 0 {
		return nil, fmt.Errorf("payment providers: %w", errors.Join(errs...))
	}
	return out, nil
}
