package stripetest

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"
)

// RefusingAPI starts a Stripe API that refuses every request the way Stripe
// reports a refused request, with text in the error's message and code and
// in the Request-Id header: what a test checks reaches the log and never a
// user. It returns the base URL for stripe.Config.BackendURL and stops when
// the test ends.
func RefusingAPI(t testing.TB, text string) string {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Request-Id", "req_"+text)
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusBadRequest)
		_ = json.NewEncoder(w).Encode(map[string]any{"error": map[string]string{"type": "invalid_request_error", "code": text, "message": text}})
	}))
	t.Cleanup(srv.Close)
	return srv.URL
}
