package e2e

import (
	"context"
	"strconv"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/input"
	"github.com/chromedp/chromedp"
)

// uiTermType types line and Enter into the task terminal, as a person's
// keyboard would reach it: the text as inserted text (xterm.js's input
// event), then an Enter key press.
func uiTermType(b *uiBrowser, line string) {
	b.t.Helper()
	b.do("type "+strconv.Quote(line), chromedp.Focus(chromedp.CSS("#term .xterm-helper-textarea")),
		chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
			if _, err := cdp.Call(ctx, tg, input.InsertText, input.InsertTextParams{Text: line}); err != nil {
				return err
			}
			enter := input.DispatchKeyEventParams{Type: input.DispatchKeyEventTypeRawKeyDown, Key: "Enter", Code: "Enter", WindowsVirtualKeyCode: 13, NativeVirtualKeyCode: 13}
			if _, err := cdp.Call(ctx, tg, input.DispatchKeyEvent, enter); err != nil {
				return err
			}
			enter.Type = input.DispatchKeyEventTypeKeyUp
			_, err := cdp.Call(ctx, tg, input.DispatchKeyEvent, enter)
			return err
		}))
}

// uiTermRows is the text of the task terminal's rows, one per line.
const uiTermRows = `[...document.querySelectorAll('#term .xterm-rows > div')].map((r) => r.textContent.trimEnd()).join('\n')`

// TestUIExecTerminal (issue 22 acceptance): the task page's Terminal tab
// opens an exec session in the running task (xterm.js over the exec
// WebSocket): `echo hello-term` typed in it is answered inside the task, as
// the task's user, and the shell's exit code shows when it ends.
func TestUIExecTerminal(t *testing.T) {
	nobody := nobodyUID(t)
	n, task := execAppTask(t, appMark(2401))
	b := uiNewBrowser(t, n.url())
	b.login("/", "admin", uiAdminSecret(t, n))
	b.goTo("/tasks/" + task + "?terminal=1")
	b.do("connect the terminal", chromedp.Click(chromedp.CSS("#term-connect")))
	b.waitJS("terminal connected", 30*time.Second, `document.querySelector('#term-status').textContent.startsWith('connected')`)
	b.waitJS("the shell's prompt", 30*time.Second, uiTermRows+`.includes('$')`)
	uiTermType(b, "echo hello-term; id -u")
	// The answer is a row of its own (the typed line holds the text too).
	b.waitJS("the answer to echo", 30*time.Second, uiTermRows+`.split('\n').includes('hello-term')`)
	b.waitJS("the task's uid", 30*time.Second, uiTermRows+`.split('\n').includes(`+strconv.Quote(strconv.Itoa(nobody))+`)`)
	b.screenshot("task-terminal")
	uiTermType(b, "exit 7")
	b.waitJS("the exit code", 30*time.Second, `document.querySelector('#term-status').textContent === 'exited with code 7'`)
	b.checkProblems()
}
