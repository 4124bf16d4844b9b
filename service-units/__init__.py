"""The start-at-login templates (systemd, launchd, Windows Task Scheduler, XDG autostart), installed as
package data so that ``hushnote service install`` works from any installation, not only this checkout."""
