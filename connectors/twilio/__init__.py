"""SMS and MMS through Twilio's Messages API, with its signed webhooks and status callbacks."""
