"""`ReplyStream`: one reply as it streams, stored when it ends (see assistant.app.Assistant.reply).

Threading: iterate it on one thread (the model lane for a model reply); the reply is stored on that
thread when iteration ends. Cancel it from any thread with the CancelToken it was given.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

from assistant.cancel import CancelToken
from assistant.engine.base import Completion, TokenStream
from assistant.types import Conversation, Message, RecalledMemory, Reply


class ReplyStream:
    """Iterate for the reply's text pieces; `result` holds the stored Reply once iteration ends.

    Breaking out early (then `close()`), or cancelling the token, stops generation; the partial reply
    is still stored (finish_reason "cancelled"), so nothing the user saw is lost. An engine failure
    mid-stream stores what arrived (finish_reason "error") and re-raises.
    """

    def __init__(
        self,
        tokens: TokenStream,
        conversation: Conversation,
        user: Message,
        cancel: CancelToken,
        store_reply: Callable[[str, str, Completion | None], Reply],
    ) -> None:
        self.conversation = conversation
        self.user_message = user
        self.memories: tuple[RecalledMemory, ...] = ()
        self.result: Reply | None = None
        self._pieces = self._run(tokens, cancel, store_reply)

    def _run(
        self,
        tokens: TokenStream,
        cancel: CancelToken,
        store_reply: Callable[[str, str, Completion | None], Reply],
    ) -> Iterator[str]:
        text: list[str] = []
        finish = "error"
        try:
            for piece in tokens:
                text.append(piece)
                yield piece
            finish = tokens.completion.finish_reason if tokens.completion else "stop"
        except GeneratorExit:
            finish = "cancelled"
            tokens.close()
            raise
        finally:
            if cancel.cancelled and finish != "error":
                finish = "cancelled"
            self.result = store_reply("".join(text), finish, tokens.completion)

    def __iter__(self) -> Iterator[str]:
        return self._pieces

    def close(self) -> None:
        self._pieces.close()  # type: ignore[attr-defined]

    def wait(self) -> Reply:
        for _ in self._pieces:
            pass
        assert self.result is not None
        return self.result
