package loadgen

import (
	"context"
	"hash/fnv"
	"net/http"
	"strconv"
)

// The phone sign-up workload (issue 4): every request asks for a sign-up code for a new Kuwait
// mobile number, which the server checks against its limits (per number, per client address, the
// SMS budget), issues, and hands to the SMS job queue.

// pathPhoneStart is the phone sign-up endpoint.
const pathPhoneStart = "/api/v1/auth/register/phone/start"

// otpLimitSettings are the server settings under which otp-start measures the work rather than the
// limits: every request comes from 127.0.0.1, and the daily SMS budget 0 means no budget.
const otpLimitSettings = "GATEHOUSE_OTP_PER_IP_PER_HOUR=100000 and GATEHOUSE_SMS_DAILY_BUDGET=0"

// kuwaitMobileBlocks are the first three digits of the eight-digit Kuwait mobile numbers the
// workload uses: blocks in which every number is valid by the phone number metadata the server uses
// (internal/phone; otp_test.go checks it). Each gives 10^5 numbers.
var kuwaitMobileBlocks = [...]string{
	"500", "501", "502", "503", "504", "505", "506", "507", "508", "509",
	"550", "551", "552", "553", "554", "555", "556", "557", "558", "559",
	"900", "901", "902", "903", "904", "905", "906", "907", "908", "909",
	"960", "961", "962", "963", "964", "965", "966", "967", "968", "969",
}

// blockSize is how many numbers a block holds: five free digits.
const blockSize = 100_000

// phoneSpace is how many distinct numbers loadPhone produces (four million).
const phoneSpace = uint64(len(kuwaitMobileBlocks)) * blockSize

// otpWorkloads returns the one-time code workloads, for Builtin.
func otpWorkloads() []Workload {
	return []Workload{{
		Name:        "otp-start",
		Description: "POST " + pathPhoneStart + " with a new Kuwait mobile number each time, expecting 202: limits, code issue, SMS job (needs " + otpLimitSettings + ")",
		Setup:       setupOTPStart,
	}}
}

// setupOTPStart needs no data: every request asks for a code for a new number.
func setupOTPStart(_ context.Context, env Env) (RequestFunc, error) {
	target := env.URL(pathPhoneStart)
	offset := runOffset(env.RunID)
	workers := uint64(max(env.Workers, 1))
	return func(ctx context.Context, worker int, iter uint64) (Call, error) {
		req, err := JSONRequest(ctx, http.MethodPost, target, map[string]string{
			"phone": loadPhone(offset + iter*workers + uint64(worker)),
		})
		return Call{Request: req, Want: http.StatusAccepted}, err
	}, nil
}

// runOffset spreads the numbers of different runs over the number space, so that runs against one
// server (-url) start at different numbers.
func runOffset(runID string) uint64 {
	h := fnv.New64a()
	_, _ = h.Write([]byte(runID))
	return h.Sum64() % phoneSpace
}

// loadPhone is the n-th number of the workload's space, in E.164: "+965", a block and five digits.
// Numbers n and n+phoneSpace are the same; within a run, n = offset + iteration × workers + worker
// never repeats before phoneSpace (four million) requests.
func loadPhone(n uint64) string {
	n %= phoneSpace
	digits := strconv.FormatUint(n%blockSize, 10)
	b := make([]byte, 0, 12)
	b = append(b, "+965"...)
	b = append(b, kuwaitMobileBlocks[n/blockSize]...)
	for range 5 - len(digits) {
		b = append(b, '0')
	}
	return string(append(b, digits...))
}
