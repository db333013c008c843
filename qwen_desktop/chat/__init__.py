"""Chat: a conversation's turns, the history, attachments and measured answers (Qt-free);
``ui/`` the chat page, its widgets and controller."""
