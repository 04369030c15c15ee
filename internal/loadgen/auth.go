package loadgen

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sync"
)

// The accounts, sign-in and token workloads (issue 3): sign-up, password sign-in, refresh-token
// rotation and the authenticated read of the account. Their set-up creates accounts through the
// public API; see docs/load-testing.md for the server settings they need.

// loadPassword is the password of every account the workloads create. It passes the default
// password policy (length, the common-password list, no identifier in it).
const loadPassword = "quartz-lantern-meadow-91"

// unverifiedLoginSetting is the server setting that lets the accounts the workloads create sign in
// without verifying their email address; the signin, refresh and account workloads need it.
const unverifiedLoginSetting = "GATEHOUSE_ACCOUNT_ALLOW_UNVERIFIED_LOGIN=true"

// setupParallelism bounds the set-up requests in flight. Each sign-up and sign-in hashes a password,
// which the server bounds to one hash per core anyway: more would only queue there.
const setupParallelism = 8

// Paths of the auth API used by the workloads.
const (
	pathRegister = "/api/v1/auth/register"
	pathLogin    = "/api/v1/auth/login"
	pathRefresh  = "/api/v1/auth/token/refresh"
	pathAccount  = "/api/v1/account"
)

// tokenPair is the part of a sign-in or refresh answer the workloads keep.
type tokenPair struct {
	AccessToken  string `json:"access_token"`
	RefreshToken string `json:"refresh_token"`
}

// authWorkloads returns the workloads of the auth API, for Builtin.
func authWorkloads() []Workload {
	return []Workload{
		{
			Name:        "signup",
			Description: "POST /api/v1/auth/register with a new email address each time, expecting 202 (hash, insert, verification email job)",
			Setup:       setupSignup,
		},
		{
			Name:        "signin",
			Description: "POST /api/v1/auth/login, each worker to its own account, expecting 200 (needs " + unverifiedLoginSetting + ")",
			Setup:       setupSignin,
		},
		{
			Name:        "refresh",
			Description: "POST /api/v1/auth/token/refresh, each worker rotating its own session's refresh token, expecting 200 (needs " + unverifiedLoginSetting + ")",
			Setup:       setupRefresh,
		},
		{
			Name:        "account",
			Description: "GET /api/v1/account with each worker's bearer token, expecting 200: JWT, revocation and profile cache (needs " + unverifiedLoginSetting + ")",
			Setup:       setupAccount,
		},
	}
}

// setupSignup needs no data: every request signs up a new address.
func setupSignup(_ context.Context, env Env) (RequestFunc, error) {
	target := env.URL(pathRegister)
	return func(ctx context.Context, worker int, iter uint64) (Call, error) {
		req, err := JSONRequest(ctx, http.MethodPost, target, map[string]string{
			"email":    loadEmail("signup", env.Unique(worker, iter)),
			"password": loadPassword,
		})
		return Call{Request: req, Want: http.StatusAccepted}, err
	}, nil
}

// setupSignin registers one account per worker and checks that it can sign in; each request signs
// the worker in to its own account.
func setupSignin(ctx context.Context, env Env) (RequestFunc, error) {
	emails := make([]string, env.Workers)
	err := eachWorker(ctx, env.Workers, func(ctx context.Context, w int) error {
		emails[w] = loadEmail("signin", env.Unique(w, 0))
		return register(ctx, env, emails[w])
	})
	if err != nil {
		return nil, err
	}
	// One sign-in proves the server lets unverified accounts in; the others are the same case.
	if env.Workers > 0 {
		if _, err := signIn(ctx, env, emails[0]); err != nil {
			return nil, err
		}
	}
	bodies := make([][]byte, env.Workers)
	for w, email := range emails {
		if bodies[w], err = json.Marshal(map[string]string{"identifier": email, "password": loadPassword}); err != nil {
			return nil, fmt.Errorf("encode sign-in body: %w", err)
		}
	}
	target := env.URL(pathLogin)
	return func(ctx context.Context, worker int, _ uint64) (Call, error) {
		req, err := bytesRequest(ctx, http.MethodPost, target, bodies[worker])
		return Call{Request: req, Want: http.StatusOK}, err
	}, nil
}

// setupRefresh signs each worker in to its own account; each request rotates that worker's refresh
// token and keeps the successor.
func setupRefresh(ctx context.Context, env Env) (RequestFunc, error) {
	sessions, err := signedInWorkers(ctx, env, "refresh")
	if err != nil {
		return nil, err
	}
	tokens := make([]string, env.Workers)
	for w, s := range sessions {
		tokens[w] = s.RefreshToken
	}
	target := env.URL(pathRefresh)
	return func(ctx context.Context, worker int, _ uint64) (Call, error) {
		req, err := JSONRequest(ctx, http.MethodPost, target, map[string]string{"refresh_token": tokens[worker]})
		// A request that fails keeps the old token: the next one retries it, which the server's
		// grace window answers with the same successor.
		return Call{Request: req, Want: http.StatusOK, Then: func(body []byte) error {
			var next tokenPair
			if err := json.Unmarshal(body, &next); err != nil {
				return fmt.Errorf("decode refresh answer: %w", err)
			}
			if next.RefreshToken == "" {
				return errors.New("refresh answer has no refresh_token")
			}
			tokens[worker] = next.RefreshToken
			return nil
		}}, err
	}, nil
}

// setupAccount signs each worker in to its own account; each request reads the account with that
// worker's access token.
func setupAccount(ctx context.Context, env Env) (RequestFunc, error) {
	sessions, err := signedInWorkers(ctx, env, "account")
	if err != nil {
		return nil, err
	}
	target := env.URL(pathAccount)
	tmpls := make([]*http.Request, env.Workers)
	for w, s := range sessions {
		if tmpls[w], err = http.NewRequest(http.MethodGet, target, nil); err != nil {
			return nil, fmt.Errorf("build GET %s: %w", pathAccount, err)
		}
		tmpls[w].Header.Set("Accept", "application/json")
		tmpls[w].Header.Set("Authorization", "Bearer "+s.AccessToken)
	}
	// As in Static: WithContext copies shallowly and nothing on the way writes to the template.
	return func(ctx context.Context, worker int, _ uint64) (Call, error) {
		return Call{Request: tmpls[worker].WithContext(ctx), Want: http.StatusOK}, nil
	}, nil
}

// signedInWorkers registers and signs in one account per worker.
func signedInWorkers(ctx context.Context, env Env, kind string) ([]tokenPair, error) {
	sessions := make([]tokenPair, env.Workers)
	err := eachWorker(ctx, env.Workers, func(ctx context.Context, w int) error {
		email := loadEmail(kind, env.Unique(w, 0))
		if err := register(ctx, env, email); err != nil {
			return err
		}
		s, err := signIn(ctx, env, email)
		if err != nil {
			return err
		}
		if s.AccessToken == "" || s.RefreshToken == "" {
			return fmt.Errorf("sign in %s: the answer has no access_token or refresh_token", email)
		}
		sessions[w] = s
		return nil
	})
	return sessions, err
}

// loadEmail is the address of a workload's account: kind says which workload made it, unique comes
// from Env.Unique.
func loadEmail(kind, unique string) string {
	return "load-" + kind + "-" + unique + "@example.test"
}

// register signs an address up and expects 202.
func register(ctx context.Context, env Env, email string) error {
	resp, err := postJSON(ctx, env, pathRegister, map[string]string{"email": email, "password": loadPassword})
	if err != nil {
		return fmt.Errorf("register %s: %w", email, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusAccepted {
		return fmt.Errorf("register %s: %s", email, describeAnswer(resp))
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	return nil
}

// signIn signs in with an address and loadPassword and returns the tokens. A refusal because the
// address is not verified names the server setting that allows it.
func signIn(ctx context.Context, env Env, email string) (tokenPair, error) {
	resp, err := postJSON(ctx, env, pathLogin, map[string]string{"identifier": email, "password": loadPassword})
	if err != nil {
		return tokenPair{}, fmt.Errorf("sign in %s: %w", email, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		msg := describeAnswer(resp)
		if resp.StatusCode == http.StatusForbidden {
			msg += " (start the server with " + unverifiedLoginSetting + ", with -server: -server-env " + unverifiedLoginSetting + ")"
		}
		return tokenPair{}, fmt.Errorf("sign in %s: %s", email, msg)
	}
	var t tokenPair
	if err := json.NewDecoder(resp.Body).Decode(&t); err != nil {
		return tokenPair{}, fmt.Errorf("sign in %s: decode answer: %w", email, err)
	}
	return t, nil
}

func postJSON(ctx context.Context, env Env, path string, v any) (*http.Response, error) {
	req, err := JSONRequest(ctx, http.MethodPost, env.URL(path), v)
	if err != nil {
		return nil, err
	}
	return env.Client.Do(req)
}

// describeAnswer reads an unexpected answer: its status and, for a problem response, its code and
// detail.
func describeAnswer(resp *http.Response) string {
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 16<<10))
	var p struct {
		Code   string `json:"code"`
		Detail string `json:"detail"`
	}
	if json.Unmarshal(body, &p) == nil && p.Code != "" {
		return fmt.Sprintf("status %d %s: %s", resp.StatusCode, p.Code, p.Detail)
	}
	return fmt.Sprintf("status %d", resp.StatusCode)
}

// bytesRequest builds a request with a pre-encoded JSON body.
func bytesRequest(ctx context.Context, method, target string, body []byte) (*http.Request, error) {
	req, err := http.NewRequestWithContext(ctx, method, target, bytes.NewReader(body))
	if err != nil {
		return nil, fmt.Errorf("build %s %s: %w", method, target, err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json")
	return req, nil
}

// eachWorker runs fn for every worker index in 0..n-1, at most setupParallelism at once, and returns
// the first error; after it, no new call starts and ctx of the running ones is cancelled.
func eachWorker(ctx context.Context, n int, fn func(ctx context.Context, w int) error) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var (
		wg    sync.WaitGroup
		mu    sync.Mutex
		first error
	)
	sem := make(chan struct{}, setupParallelism)
loop:
	for w := range n {
		select {
		case sem <- struct{}{}:
		case <-ctx.Done():
			break loop
		}
		if ctx.Err() != nil { // select picks at random when both are ready
			<-sem
			break
		}
		wg.Go(func() {
			defer func() { <-sem }()
			if err := fn(ctx, w); err != nil {
				mu.Lock()
				if first == nil {
					first = err
					cancel()
				}
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if first != nil {
		return first
	}
	return ctx.Err()
}
