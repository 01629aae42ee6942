package admin

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"time"
)

// Client calls a running server's admin socket. It implements Ops.
type Client struct {
	path string
	hc   *http.Client
	long *http.Client // no overall timeout: backups take as long as the data directory needs
}

var _ Ops = (*Client)(nil)

// NewClient returns a client of the admin socket at socketPath. It does not
// connect until the first call; use Ping to check that a server answers.
func NewClient(socketPath string) *Client {
	tr := &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "unix", socketPath)
		},
		MaxIdleConns:    2,
		IdleConnTimeout: 10 * time.Second,
	}
	return &Client{path: socketPath, hc: &http.Client{Transport: tr, Timeout: 2 * time.Minute}, long: &http.Client{Transport: tr}}
}

// Close releases idle connections.
func (c *Client) Close() error {
	c.hc.CloseIdleConnections()
	return nil
}

// Ping checks that a server answers on the socket.
func (c *Client) Ping(ctx context.Context) error {
	var out map[string]string
	return c.do(ctx, http.MethodGet, "/v1/ping", nil, &out)
}

func (c *Client) ListStudies(ctx context.Context, q StudyQuery) ([]StudySummary, error) {
	v := url.Values{}
	setNonEmpty(v, "text", q.Text)
	setNonEmpty(v, "from", formatTimeParam(q.From))
	setNonEmpty(v, "to", formatTimeParam(q.To))
	if q.Limit != 0 {
		v.Set("limit", strconv.Itoa(q.Limit))
	}
	if q.Offset != 0 {
		v.Set("offset", strconv.Itoa(q.Offset))
	}
	setNonEmpty(v, "sort", q.Sort)
	var out []StudySummary
	err := c.do(ctx, http.MethodGet, "/v1/studies?"+v.Encode(), nil, &out)
	return out, err
}

func (c *Client) StudyDetail(ctx context.Context, study string) (*StudyDetail, error) {
	var out StudyDetail
	if err := c.do(ctx, http.MethodGet, "/v1/studies/"+url.PathEscape(study), nil, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

func (c *Client) Send(ctx context.Context, req SendRequest) (*SendResult, error) {
	var out SendResult
	if err := c.do(ctx, http.MethodPost, "/v1/send", req, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

func (c *Client) Resend(ctx context.Context, req LinkRequest) (*SendResult, error) {
	var out SendResult
	if err := c.do(ctx, http.MethodPost, "/v1/resend", req, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

func (c *Client) Revoke(ctx context.Context, req LinkRequest) (*Link, error) {
	var out Link
	if err := c.do(ctx, http.MethodPost, "/v1/revoke", req, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

func (c *Client) Settings(ctx context.Context) ([]Setting, error) {
	var out []Setting
	err := c.do(ctx, http.MethodGet, "/v1/settings", nil, &out)
	return out, err
}

func (c *Client) SetSetting(ctx context.Context, req SettingRequest) (*Setting, error) {
	var out Setting
	if err := c.do(ctx, http.MethodPost, "/v1/settings", req, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

func (c *Client) Audit(ctx context.Context, q AuditQuery) ([]AuditEvent, error) {
	v := url.Values{}
	setNonEmpty(v, "study", q.Study)
	setNonEmpty(v, "link", q.Link)
	setNonEmpty(v, "since", formatTimeParam(q.Since))
	if q.Limit != 0 {
		v.Set("limit", strconv.Itoa(q.Limit))
	}
	var out []AuditEvent
	err := c.do(ctx, http.MethodGet, "/v1/audit?"+v.Encode(), nil, &out)
	return out, err
}

func (c *Client) UseVersion(ctx context.Context, req VersionRequest) (*Object, error) {
	var out Object
	if err := c.do(ctx, http.MethodPost, "/v1/version", req, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

func setNonEmpty(v url.Values, k, s string) {
	if s != "" {
		v.Set(k, s)
	}
}

func (c *Client) do(ctx context.Context, method, path string, body, out any) error {
	return c.doOn(ctx, c.hc, method, path, body, out)
}

// Backup asks the server to write a backup; it waits as long as that takes.
func (c *Client) Backup(ctx context.Context, req BackupRequest) (*Manifest, error) {
	var out Manifest
	if err := c.doOn(ctx, c.long, http.MethodPost, "/v1/backup", req, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

func (c *Client) doOn(ctx context.Context, hc *http.Client, method, path string, body, out any) error {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, "http://sonolink-admin"+path, rd)
	if err != nil {
		return err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := hc.Do(req)
	if err != nil {
		return fmt.Errorf("admin socket %s: %w (is sonolink serve still running?)", c.path, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return fmt.Errorf("admin socket: reading reply: %w", err)
	}
	if resp.StatusCode != http.StatusOK {
		var e struct {
			Error *Error `json:"error"`
		}
		if json.Unmarshal(data, &e) == nil && e.Error != nil {
			return e.Error
		}
		return &Error{Kind: KindInternal, Message: fmt.Sprintf("admin socket: HTTP %d", resp.StatusCode)}
	}
	if err := json.Unmarshal(data, out); err != nil {
		return fmt.Errorf("admin socket: malformed reply: %w", err)
	}
	return nil
}
