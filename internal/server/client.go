package server

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/k3sync/k3sync/internal/plan"
	"github.com/k3sync/k3sync/internal/version"
	"github.com/k3sync/k3sync/internal/view"
)

// Client calls a k3sync server's API.
type Client struct {
	// URL is the server's base URL, e.g. https://k3sync.example.com.
	URL string
	// Token is the bearer token.
	Token string
	// HTTP is the HTTP client (default: one with a 30s timeout).
	HTTP *http.Client
}

var defaultHTTP = &http.Client{Timeout: 30 * time.Second}

// maxResponse bounds what the client reads: a sync of every tenant with
// every change is large, but not this large.
const maxResponse = 64 << 20

// APIError is an error answer from the server.
type APIError struct {
	// StatusCode is the HTTP status.
	StatusCode int
	// Message is the server's {"error": ...}, or the body's start.
	Message string
}

func (e *APIError) Error() string {
	return fmt.Sprintf("%d %s: %s", e.StatusCode, http.StatusText(e.StatusCode), e.Message)
}

// Is makes errors.Is(err, ErrNotFound) true for a 404.
func (e *APIError) Is(target error) bool {
	return target == ErrNotFound && e.StatusCode == http.StatusNotFound
}

// Trigger asks for a sync (of req.Tenant, or of every tenant).
func (c *Client) Trigger(ctx context.Context, req view.TriggerRequest) (view.Sync, error) {
	var s view.Sync
	if err := c.do(ctx, http.MethodPost, "/api/v1/sync", req, &s); err != nil {
		return view.Sync{}, fmt.Errorf("trigger sync: %w", err)
	}
	return s, nil
}

// Sync returns a triggered sync.
func (c *Client) Sync(ctx context.Context, id string) (view.Sync, error) {
	var s view.Sync
	if err := c.do(ctx, http.MethodGet, "/api/v1/syncs/"+url.PathEscape(id), nil, &s); err != nil {
		return view.Sync{}, fmt.Errorf("sync %s: %w", id, err)
	}
	return s, nil
}

// Overview returns the server's overview.
func (c *Client) Overview(ctx context.Context) (view.Overview, error) {
	var o view.Overview
	if err := c.do(ctx, http.MethodGet, "/api/v1/overview", nil, &o); err != nil {
		return view.Overview{}, fmt.Errorf("overview: %w", err)
	}
	return o, nil
}

// Plan returns the daemon's current plan of tenants (every tenant when
// none is named), as GET /api/v1/plan puts it together: the latest plan
// the daemon made of each, not a new one. Sensitive values come redacted;
// numbers keep their JSON text (json.Number), so the plan renders as the
// daemon's does.
func (c *Client) Plan(ctx context.Context, tenants ...string) (*plan.Plan, error) {
	q := url.Values{"format": {"json"}}
	if len(tenants) > 0 {
		q["tenant"] = tenants
	}
	b, err := c.call(ctx, http.MethodGet, "/api/v1/plan?"+q.Encode(), nil)
	if err != nil {
		return nil, fmt.Errorf("plan: %w", err)
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var p plan.Plan
	if err := dec.Decode(&p); err != nil {
		return nil, fmt.Errorf("plan: decode response: %w", err)
	}
	return &p, nil
}

// Wait polls a sync every interval until it is done or ctx ends, calling
// progress (if not nil) with each state seen. On error it returns the last
// state seen with it.
func (c *Client) Wait(ctx context.Context, id string, every time.Duration, progress func(view.Sync)) (view.Sync, error) {
	if every <= 0 {
		every = 2 * time.Second
	}
	t := time.NewTicker(every)
	defer t.Stop()
	var last view.Sync
	for {
		s, err := c.Sync(ctx, id)
		if err != nil {
			return last, err
		}
		last = s
		if progress != nil {
			progress(s)
		}
		if s.Phase == view.Done {
			return s, nil
		}
		select {
		case <-ctx.Done():
			return s, fmt.Errorf("sync %s: wait: %w", id, context.Cause(ctx))
		case <-t.C:
		}
	}
}

func (c *Client) do(ctx context.Context, method, path string, in, out any) error {
	b, err := c.call(ctx, method, path, in)
	if err != nil {
		return err
	}
	if out == nil {
		return nil
	}
	if err := json.Unmarshal(b, out); err != nil {
		return fmt.Errorf("%s %s: decode response: %w", method, path, err)
	}
	return nil
}

// call sends in (JSON, if not nil) and returns the body of a successful
// answer, or an *APIError.
func (c *Client) call(ctx context.Context, method, path string, in any) ([]byte, error) {
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return nil, fmt.Errorf("encode request: %w", err)
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, strings.TrimRight(c.URL, "/")+path, body)
	if err != nil {
		return nil, fmt.Errorf("request: %w", err)
	}
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	req.Header.Set("Accept", "application/json")
	req.Header.Set("User-Agent", "k3sync/"+version.String())
	if c.Token != "" {
		req.Header.Set("Authorization", "Bearer "+c.Token)
	}
	resp, err := cmp.Or(c.HTTP, defaultHTTP).Do(req)
	if err != nil {
		return nil, err //nolint:wrapcheck // *url.Error names method and URL
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, maxResponse))
	if err != nil {
		return nil, fmt.Errorf("%s %s: read response: %w", method, path, err)
	}
	if resp.StatusCode >= 300 {
		return nil, apiError(resp.StatusCode, b)
	}
	return b, nil
}

func apiError(code int, body []byte) *APIError {
	var eb errorBody
	if json.Unmarshal(body, &eb) == nil && eb.Error != "" {
		return &APIError{StatusCode: code, Message: eb.Error}
	}
	msg := strings.TrimSpace(string(body))
	if len(msg) > 200 {
		msg = msg[:200] + "..."
	}
	if msg == "" {
		msg = "(empty response)"
	}
	return &APIError{StatusCode: code, Message: msg}
}

// IsUnauthorized reports whether err is the server refusing the token
// (401).
func IsUnauthorized(err error) bool {
	var ae *APIError
	return errors.As(err, &ae) && ae.StatusCode == http.StatusUnauthorized
}
