package gitea

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
)

// APIError is a REST API call that Gitea answered with a status other than
// 2xx. Message is Gitea's "message" field, or the start of the body.
type APIError struct {
	Method     string
	Path       string
	StatusCode int
	Message    string
}

func (e *APIError) Error() string {
	return fmt.Sprintf("gitea API %s %s: %d %s: %s", e.Method, e.Path, e.StatusCode, http.StatusText(e.StatusCode), e.Message)
}

// IsStatus reports whether err is an *APIError with the given HTTP status.
func IsStatus(err error, status int) bool {
	var ae *APIError
	return errors.As(err, &ae) && ae.StatusCode == status
}

// API calls the REST API as AdminUser: method on URL + "/api/v1" + path
// (path may carry a query), with in, if not nil, as the JSON body, and the
// JSON answer decoded into out, if not nil. Use it for what the helper
// methods do not cover, or to play the client under test:
//
//	err := s.API(ctx, http.MethodPost, "/repos/k3sync-admin/r/statuses/"+sha,
//		map[string]string{"state": "success", "context": "k3sync/plan"}, nil)
func (s *Server) API(ctx context.Context, method, path string, in, out any) error {
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return fmt.Errorf("gitea API %s %s: encode request: %w", method, path, err)
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, s.URL+"/api/v1"+path, body)
	if err != nil {
		return fmt.Errorf("gitea API %s %s: %w", method, path, err)
	}
	req.Header.Set("Authorization", "token "+s.AdminToken)
	req.Header.Set("Accept", "application/json")
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := s.client.Do(req)
	if err != nil {
		return fmt.Errorf("gitea API %s %s: %w", method, path, err)
	}
	defer func() { _ = resp.Body.Close() }()
	respBody, err := io.ReadAll(io.LimitReader(resp.Body, 32<<20))
	if err != nil {
		return fmt.Errorf("gitea API %s %s: read response: %w", method, path, err)
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return &APIError{Method: method, Path: path, StatusCode: resp.StatusCode, Message: errorMessage(respBody)}
	}
	if out != nil && resp.StatusCode != http.StatusNoContent {
		if err := json.Unmarshal(respBody, out); err != nil {
			return fmt.Errorf("gitea API %s %s: decode response: %w", method, path, err)
		}
	}
	return nil
}

// errorMessage extracts Gitea's {"message": ...} from an error body.
func errorMessage(body []byte) string {
	var e struct {
		Message string   `json:"message"`
		Errors  []string `json:"errors"`
	}
	if json.Unmarshal(body, &e) == nil && e.Message != "" {
		if len(e.Errors) > 0 {
			return e.Message + " (" + strings.Join(e.Errors, "; ") + ")"
		}
		return e.Message
	}
	msg := strings.TrimSpace(string(body))
	if len(msg) > 512 {
		msg = msg[:512] + "..."
	}
	return msg
}

// pageLimit is the page size of paged lists: Gitea's default
// [api] MAX_RESPONSE_ITEMS.
const pageLimit = 50

// listAll GETs path page by page and appends every item to *out, until a
// page is short.
func listAll[T any](ctx context.Context, s *Server, path string, out *[]T) error {
	sep := "?"
	if strings.Contains(path, "?") {
		sep = "&"
	}
	for page := 1; ; page++ {
		var items []T
		q := url.Values{"page": {fmt.Sprint(page)}, "limit": {fmt.Sprint(pageLimit)}}
		if err := s.API(ctx, http.MethodGet, path+sep+q.Encode(), nil, &items); err != nil {
			return err
		}
		*out = append(*out, items...)
		if len(items) < pageLimit {
			return nil
		}
	}
}

// repoPath returns "/repos/{owner}/{name}" for repo "owner/name", escaped.
func repoPath(repo string) (string, error) {
	owner, name, ok := strings.Cut(repo, "/")
	if !ok || owner == "" || name == "" || strings.Contains(name, "/") {
		return "", fmt.Errorf("gitea repository %q: want owner/name", repo)
	}
	return "/repos/" + url.PathEscape(owner) + "/" + url.PathEscape(name), nil
}
