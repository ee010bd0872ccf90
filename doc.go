// Package correio runs many email mailboxes at once for a host application.
package correio
