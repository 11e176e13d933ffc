"""The window's look: one style sheet, light and calm, with clear message bubbles."""

STYLE_SHEET = """
QMainWindow, QWidget#transcript { background: #f7f7f9; }
QListWidget#conversationList { border: none; background: #eef0f4; font-size: 13px; }
QListWidget#conversationList::item { padding: 8px 6px; border-radius: 6px; }
QListWidget#conversationList::item:selected { background: #d6def5; color: #1d2433; }
QFrame#userMessage { background: #e3ebff; border-radius: 12px; }
QFrame#assistantMessage { background: #ffffff; border: 1px solid #e2e4ea; border-radius: 12px; }
QLabel#speaker { font-weight: 600; color: #3b4459; }
QLabel#body { font-size: 14px; color: #1d2433; }
QLabel#memoriesUsed { color: #4a5570; font-size: 12px; padding-top: 4px;
                      border-top: 1px solid #eceef3; }
QLabel#inlineError { color: #b00020; }
QLabel#stats { color: #8a93a6; font-size: 11px; }
QLabel#notice { color: #3b4459; font-size: 14px; padding: 24px; }
QLabel#incognitoBanner { background: #2f3441; color: #f2f3f7; padding: 6px 12px; }
QLabel#editBanner { color: #8a5a00; }
QPushButton#messageAction { color: #5b6478; border: none; padding: 2px 6px; }
QPushButton#messageAction:hover { color: #1d2433; background: #eceef3; border-radius: 4px; }
QPushButton#primary { background: #3a5bd9; color: white; border-radius: 6px; padding: 6px 16px; }
QPushButton#primary:disabled { background: #9aa8dc; }
QPlainTextEdit#input { border: 1px solid #d5d8e0; border-radius: 8px; padding: 6px;
                       background: white; font-size: 14px; }
"""
