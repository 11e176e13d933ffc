"""The Assistant's chat commands: "remember that …" and "forget that …" typed as a message.

Mixed into `assistant.app.Assistant` (the front door), whose `reply` hands such a message here;
the parsing and the confirmations are in assistant.memory.commands.

Threading: no model is used, so a command never waits for the model lane; the database work is
serialised inside the Assistant, so any thread may run one. The returned stream yields the whole
confirmation at once, on the thread that iterates it, and stores it as the reply when it ends.
Side effects: the user's message is stored (a forget command's own words are not: a placeholder
is), the memory is proposed or forgotten at once, and `conversation_did_change` callbacks run on
the calling thread.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from assistant.cancel import CancelToken
from assistant.engine.base import Completion, TokenStream
from assistant.memory import commands
from assistant.memory.facts import FactSource
from assistant.memory.forget import COMMAND_MODEL
from assistant.memory.policy import Candidate
from assistant.memory.statements import parse_first_person
from assistant.reply_stream import ReplyStream
from assistant.storage.conversations import title_from_text

if TYPE_CHECKING:
    from assistant.memory.api import MemoryApi
    from assistant.storage.conversations import ConversationStore
    from assistant.storage.database import EncryptedDatabase
    from assistant.types import Conversation, Message, Reply


class ChatCommandMethods:
    @property
    def memory(self) -> MemoryApi:
        raise NotImplementedError

    @property
    def _store(self) -> ConversationStore:
        raise NotImplementedError

    def _opened_database(self) -> EncryptedDatabase:
        raise NotImplementedError

    def _did_change(self, conversation_id: int) -> None:
        raise NotImplementedError

    def _store_reply(
        self,
        conversation: Conversation,
        user: Message,
        model_name: str,
        text: str,
        finish: str,
        completion: Completion | None,
        elapsed: float,
    ) -> Reply:
        raise NotImplementedError

    def _run_command(
        self, conversation_id: int | None, text: str, command: commands.Command
    ) -> ReplyStream:
        """A "remember that …" / "forget that …" message: acted on at once, without the model;
        the reply confirms it. Streams like a model reply so every caller handles it alike."""
        store = self._store
        conversation = store.get(conversation_id) if conversation_id is not None else None
        forgetting = command.action == "forget"
        stored_text = commands.FORGET_PLACEHOLDER if forgetting else text
        if conversation is None:
            conversation = store.create(title_from_text(stored_text))
        user = store.add_message(conversation.id, "user", stored_text)
        self._did_change(conversation.id)
        if forgetting:
            answer = self._forget_command(command.body)
        elif conversation.incognito:
            answer = "This is an incognito conversation: nothing in it is remembered."
        else:
            statement = commands.first_person(command.body)
            outcome = self.memory.propose(
                Candidate(statement, "user-stated", parse_first_person(statement), explicit=True),
                FactSource(
                    source_type="conversation",
                    source_ref=f"conversation:{conversation.id}/message:{user.id}",
                    conversation_id=conversation.id,
                    message_id=user.id,
                    occurred_at=user.created_at,
                ),
            )
            older = None
            if outcome.action == "supersede" and outcome.existing is not None:
                older = self.memory.get(outcome.existing).text
            answer = commands.remember_reply(outcome, statement, older)
        started = time.perf_counter()
        chosen = conversation

        def finish(reply_text: str) -> Completion:
            return Completion(reply_text, "stop", 0, 0, total_s=time.perf_counter() - started)

        def store_reply(
            reply_text: str, finish_reason: str, completion: Completion | None
        ) -> Reply:
            return self._store_reply(
                chosen,
                user,
                COMMAND_MODEL,
                reply_text,
                finish_reason,
                completion,
                time.perf_counter() - started,
            )

        return ReplyStream(
            TokenStream(iter([answer]), finish), conversation, user, CancelToken(), store_reply
        )

    def _forget_command(self, body: str) -> str:
        ids = commands.find_to_forget(self._opened_database(), body)
        if len(ids) > commands.MAX_FORGET_MATCHES:
            return commands.forget_reply(0, 0, 0, len(ids))
        report = self.memory.forget_completely(ids)
        return commands.forget_reply(
            report.memories, report.facts, report.messages_redacted, len(ids)
        )
