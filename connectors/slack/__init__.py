"""Slack: Events API webhooks in through slack-bolt, replies out by chat.postMessage."""
