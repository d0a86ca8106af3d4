package helseid

// SetRefreshStepHook makes c call hook at each step of a stored session's refresh, for the
// tests that crash a process there.
func SetRefreshStepHook(c *Client, hook func(step string)) { c.testRefreshStep = hook }
